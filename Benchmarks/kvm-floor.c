/*
 * kvm-floor.c: the benchmark floor. The smallest program that runs a SwiftVMM
 * firmware image (-bios layout: image ends at 4 GiB, last 64 KiB copied to
 * 0xF0000) with the same KVM set-up as swiftvmm (irqchip, CPUID, memory
 * slots) and nothing but a KVM_RUN loop: COM1 THR to stdout, LSR reads as
 * "transmitter empty", isa-debug-exit at 0xf4, shutdown = exit 0.
 *
 * usage: kvm-floor IMAGE [MiB]      FLOOR_EXIT_STATS=1 prints the same
 * "exit-stats:" line as swiftvmm -exit-stats.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES (1 << 20)
static uint32_t samples[MAX_SAMPLES];
static size_t nsamples;
static uint64_t first_io;
static int stats;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(2);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void __attribute__((noreturn)) finish(int status) {
    if (stats) {
        qsort(samples, nsamples, sizeof samples[0], cmp_u32);
        uint32_t med = nsamples ? samples[nsamples / 2] : 0;
        size_t i99 = (size_t)(nsamples * 0.99);
        uint32_t p99 = nsamples ? samples[i99 < nsamples ? i99 : nsamples - 1] : 0;
        fprintf(stderr, "exit-stats: exits=%zu median_ns=%u p99_ns=%u first_io_ns=%llu\n",
                nsamples, med, p99, (unsigned long long)first_io);
    }
    exit(status);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: kvm-floor IMAGE [MiB]\n"); return 1; }
    stats = getenv("FLOOR_EXIT_STATS") != NULL;
    uint64_t ram = (argc > 2 ? strtoull(argv[2], 0, 0) : 128) << 20;

    int img = open(argv[1], O_RDONLY);
    if (img < 0) die(argv[1]);
    size_t size = (size_t)lseek(img, 0, SEEK_END);
    if (size == 0 || size > (16u << 20) || size % 4096) { fprintf(stderr, "bad image size\n"); return 1; }

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    uint64_t idmap = 0xfeffc000;
    if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 &&
        ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0) die("KVM_SET_IDENTITY_MAP_ADDR");
    if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SET_TSS_ADDR) > 0 &&
        ioctl(vm, KVM_SET_TSS_ADDR, 0xfeffd000ul) < 0) die("KVM_SET_TSS_ADDR");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");

    uint8_t *mem = mmap(0, ram, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint8_t *rom = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || rom == MAP_FAILED) die("mmap");
    if (pread(img, rom, size, 0) != (ssize_t)size) die("read image");
    size_t low = size < (128u << 10) ? size : (128u << 10);
    memcpy(mem + 0x100000 - low, rom + size - low, low);

    struct kvm_userspace_memory_region r0 = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram,
                                              .userspace_addr = (uint64_t)mem };
    struct kvm_userspace_memory_region r1 = { .slot = 1, .guest_phys_addr = (1ull << 32) - size,
                                              .memory_size = size, .userspace_addr = (uint64_t)rom,
                                              .flags = KVM_MEM_READONLY };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r0) < 0) die("memory slot 0");
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r1) < 0) die("memory slot 1");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) die("KVM_CREATE_VCPU");
    int nent = 256;
    struct kvm_cpuid2 *cpuid = calloc(1, sizeof *cpuid + nent * sizeof(struct kvm_cpuid_entry2));
    cpuid->nent = nent;
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) die("KVM_GET_SUPPORTED_CPUID");
    if (ioctl(vcpu, KVM_SET_CPUID2, cpuid) < 0) die("KVM_SET_CPUID2");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");

    uint64_t last = 0;
    for (;;) {
        if (stats && last && nsamples < MAX_SAMPLES) samples[nsamples++] = (uint32_t)(now_ns() - last);
        if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (stats) last = now_ns();
        switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            uint8_t *data = (uint8_t *)run + run->io.data_offset;
            if (stats && !first_io) first_io = last;
            if (run->io.direction == KVM_EXIT_IO_OUT) {
                if (run->io.port == 0x3f8) { if (write(1, data, 1) < 0) die("write"); }
                else if (run->io.port == 0xf4) finish((data[0] << 1) | 1);
            } else {
                memset(data, run->io.port == 0x3fd ? 0x60 : 0xff, run->io.size);
            }
            break;
        }
        case KVM_EXIT_MMIO:
            if (!run->mmio.is_write) memset(run->mmio.data, 0xff, run->mmio.len);
            break;
        case KVM_EXIT_SHUTDOWN:
            finish(0);
        default:
            fprintf(stderr, "exit reason %u\n", run->exit_reason);
            finish(2);
        }
    }
}
