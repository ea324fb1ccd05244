// Linux host APIs the Glibc Swift module does not expose: epoll, eventfd, timerfd,
// signalfd, prctl and gettid (variadic syscalls, so wrapped inline), fallocate.
#ifndef LINUX_HOST_H
#define LINUX_HOST_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/falloc.h>

/* glibc declares fallocate only under _GNU_SOURCE, which the Glibc Swift
   module is not built with. */
extern int fallocate(int fd, int mode, long offset, long len);

/// Names the calling thread (PR_SET_NAME; at most 15 characters are kept).
static inline int linux_host_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}

/// The calling thread's Linux thread id (gettid(2)).
static inline int linux_host_gettid(void) {
    return (int)syscall(SYS_gettid);
}
#endif
