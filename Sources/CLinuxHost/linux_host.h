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
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>
#include <linux/if_tun.h>

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

/* Tap devices (Documentation/networking/tuntap.rst). ioctl is variadic, so
   each request is wrapped here. */

/// TUNSETIFF on an open /dev/net/tun: attaches to tap `name` (creating it if
/// missing) with `flags` (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR). The kernel's
/// name for the device is copied to `actual` (IFNAMSIZ bytes). -1 + errno on failure.
static inline int linux_host_tun_set_iff(int fd, const char *name, int flags, char *actual) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_flags = (short)flags;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) return -1;
    memcpy(actual, ifr.ifr_name, IFNAMSIZ);
    return 0;
}

/// The features the tun driver supports (TUNGETFEATURES), or -1.
static inline int linux_host_tun_features(int fd) {
    unsigned int features = 0;
    if (ioctl(fd, TUNGETFEATURES, &features) < 0) return -1;
    return (int)features;
}

/// TUNSETVNETHDRSZ: the virtio-net header length in front of every frame.
static inline int linux_host_tun_set_vnet_header_size(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size);
}

/// TUNSETOFFLOAD: which offloads (TUN_F_CSUM, TUN_F_TSO4 ...) the reader
/// of the tap accepts in frames it receives.
static inline int linux_host_tun_set_offload(int fd, unsigned int flags) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags);
}

/// The interface's MTU (SIOCGIFMTU), or -1.
static inline int linux_host_interface_mtu(const char *name) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    int r = ioctl(s, SIOCGIFMTU, &ifr);
    close(s);
    return r < 0 ? -1 : ifr.ifr_mtu;
}

static const int linux_host_iff_tap = IFF_TAP;
static const int linux_host_iff_no_pi = IFF_NO_PI;
static const int linux_host_iff_vnet_hdr = IFF_VNET_HDR;
static const unsigned int linux_host_tun_f_csum = TUN_F_CSUM;
static const unsigned int linux_host_tun_f_tso4 = TUN_F_TSO4;
static const unsigned int linux_host_tun_f_tso6 = TUN_F_TSO6;
static const unsigned int linux_host_tun_f_tso_ecn = TUN_F_TSO_ECN;
#endif
