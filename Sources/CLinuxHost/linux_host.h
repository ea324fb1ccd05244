// Linux host APIs the Glibc Swift module does not expose: epoll, eventfd,
// signalfd, and prctl (variadic, so wrapped). Headers only, no C code.
#ifndef LINUX_HOST_H
#define LINUX_HOST_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

/// Names the calling thread (PR_SET_NAME; at most 15 characters are kept).
static inline int linux_host_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
#endif
