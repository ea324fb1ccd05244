/*
 * disk-floor.c: the host's own pread/pwrite on the benchmark image, with
 * the access patterns of the guest's virtio-blk benchmark (Firmware/virtio/
 * blk-test.c): 1 = 4 KiB random reads, 2 = 64 KiB sequential reads,
 * 3 = 64 KiB sequential writes, from sector 128 on. Prints requests/s.
 * usage: disk-floor IMAGE MODE COUNT
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: disk-floor IMAGE MODE COUNT\n"); return 1; }
    int mode = atoi(argv[2]);
    long count = atol(argv[3]);
    int fd = open(argv[1], mode == 3 ? O_RDWR : O_RDONLY);
    if (fd < 0) { perror(argv[1]); return 1; }
    uint64_t sectors = (uint64_t)lseek(fd, 0, SEEK_END) / 512;
    static char buf[65536];
    struct timespec a, b;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < count; i++) {
        ssize_t n;
        if (mode == 1) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            n = pread(fd, buf, 4096, (off_t)((x % (sectors / 8 - 1)) * 8 * 512));
        } else {
            off_t at = (off_t)((128 + ((uint64_t)i * 128) % (sectors - 256)) * 512);
            n = mode == 2 ? pread(fd, buf, 65536, at) : pwrite(fd, buf, 65536, at);
        }
        if (n <= 0) { perror("io"); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("%.0f\n", (double)count / s);
    return 0;
}
