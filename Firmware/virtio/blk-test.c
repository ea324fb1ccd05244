/*
 * blk-test.c: a virtio-blk driver test, in ring 0 of the long-mode test
 * kernel (entry.S), runs unchanged on swiftvmm and on QEMU (-bios, no other
 * firmware). It finds the disk on PCI bus 0 (modern 1af4:1042 or QEMU's
 * transitional 1af4:1001), assigns every BAR itself, walks the virtio
 * capabilities, negotiates VIRTIO_F_VERSION_1 only, sets up queue 0, and
 * with polling (no interrupts): reads sector 0 (the test writes a known
 * pattern there), writes sector 1, flushes, reads it back and compares,
 * asks GET_ID. Reports "virtio-blk-test: <check> ok|FAIL", then
 * "virtio-blk-test: done pass=N fail=M" and writes M to isa-debug-exit.
 *
 * BENCH_MODE=1|2|3 with BENCH_COUNT=N builds the benchmark: after set-up it
 * drops to ring 3 (native speed on hosts that emulate ring 0) and polls
 * through N requests of 4 KiB random reads (1), 64 KiB sequential reads (2)
 * or 64 KiB sequential writes (3), then exits through isa-debug-exit.
 */
#include "virtio-pci.h"

#define DESC        0x30000
#define AVAIL       0x31000
#define USED        0x32000
#define HDR         0x33000
#define BUF         0x34000
#define BUF2        0x35000
#define STATUS      0x36000
#define BIG         0x40000         /* 64 KiB benchmark buffer */
#define QSIZE       16

static u16 avail_idx, used_seen;

static void report(const char *check, int ok) { report_check("virtio-blk-test", check, ok); }

/* One request: header, optional data, status. Returns the status byte. */
static u8 request(u32 type, u64 sector, u64 data, u32 len, int device_writes) {
    volatile u64 *desc = (volatile u64 *)DESC;
    volatile u32 *hdr = (volatile u32 *)HDR;
    hdr[0] = type; hdr[1] = 0; *(volatile u64 *)(HDR + 8) = sector;
    MMIO8(STATUS) = 0xFF;
    int n = 0;
    /* desc: addr u64, len u32, flags u16, next u16 */
    desc[0] = HDR; desc[1] = 16u | (u64)(1 /*NEXT*/) << 32 | (u64)1 << 48;
    n = 1;
    if (len) {
        desc[2] = data; desc[3] = len | (u64)(1 | (device_writes ? 2 : 0)) << 32 | (u64)2 << 48;
        n = 2;
    } else {
        desc[1] = 16u | (u64)1 << 32 | (u64)2 << 48;
    }
    desc[4] = STATUS; desc[5] = 1u | (u64)2 /*WRITE*/ << 32;
    (void)n;
    volatile u16 *avail = (volatile u16 *)AVAIL;
    avail[2 + (avail_idx % QSIZE)] = 0;
    barrier();
    avail[1] = ++avail_idx;
    barrier();
    MMIO16(notify + 0 * notify_mult) = 0;
    volatile u16 *used = (volatile u16 *)USED;
    for (u32 spin = 0; used[1] == used_seen; spin++) {
        if (spin > 50000000) return 0xEE;
        __asm__ volatile("pause");
    }
    used_seen = used[1];
    barrier();
    return MMIO8(STATUS);
}

static u64 capacity;

#ifdef BENCH_MODE
void enter_user(void (*fn)(void), u64 stack);

static void user_bench(void) {
    u64 sectors = capacity;
#if BENCH_MODE == 1
    u64 x = 0x9E3779B97F4A7C15ul;
#endif
    for (u32 i = 0; i < BENCH_COUNT; i++) {
#if BENCH_MODE == 1
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        request(0, (x % (sectors / 8 - 1)) * 8, BUF, 4096, 1);
#elif BENCH_MODE == 2
        request(0, 128 + ((u64)i * 128) % (sectors - 256), BIG, 65536, 1);
#else
        /* From sector 128 on: sectors 0 and 1 belong to the functional checks. */
        request(1, 128 + ((u64)i * 128) % (sectors - 256), BIG, 65536, 0);
#endif
    }
    outb(DEBUG_EXIT_PORT, 0);
    for (;;) { }
}
#endif

void kmain(void) {
    checks_passed = checks_failed = 0;
    avail_idx = used_seen = 0;
    puts_serial("virtio-blk-test: start\n");
    map_mmio();
    int slot = find_virtio(0x1042, 0x1001);
    report("found virtio-blk on PCI", slot >= 0);
    if (slot < 0) goto done;
    assign_bars(slot);
    report("virtio capabilities", find_caps(slot));
    if (checks_failed) goto done;

    MMIO8(common + 0x14) = 0;                 /* reset */
    MMIO8(common + 0x14) = 1 | 2;             /* ACKNOWLEDGE | DRIVER */
    MMIO32(common + 0x00) = 1;
    u32 hi = MMIO32(common + 0x04);
    MMIO32(common + 0x08) = 0; MMIO32(common + 0x0C) = 0;
    MMIO32(common + 0x08) = 1; MMIO32(common + 0x0C) = 1;   /* VERSION_1 only */
    MMIO8(common + 0x14) = 1 | 2 | 8;
    report("features negotiated (VERSION_1)", (hi & 1) && (MMIO8(common + 0x14) & 8));

    for (u64 a = DESC; a < STATUS + 0x1000; a += 8) *(volatile u64 *)a = 0;
    MMIO16(common + 0x16) = 0;
    MMIO16(common + 0x18) = QSIZE;
    MMIO64(common + 0x20) = DESC;
    MMIO64(common + 0x28) = AVAIL;
    MMIO64(common + 0x30) = USED;
    u16 notify_off = MMIO16(common + 0x1E);
    notify += (u64)notify_off * notify_mult;
    MMIO16(common + 0x1C) = 1;
    MMIO8(common + 0x14) = 1 | 2 | 8 | 4;     /* DRIVER_OK */
    report("DRIVER_OK", (MMIO8(common + 0x14) & 0x44) == 4);

    capacity = MMIO64(device_cfg);
    puts_serial("virtio-blk-test: capacity ");
    put_dec(capacity);
    puts_serial(" sectors\n");
    report("capacity", capacity >= 2);

    report("read sector 0", request(0, 0, BUF, 512, 1) == 0);
    const char *want = "SWIFTVMM-DISK-TEST";
    int same = 1;
    for (int i = 0; want[i]; i++) same &= MMIO8(BUF + i) == (u8)want[i];
    report("sector 0 holds the test pattern", same);

    for (int i = 0; i < 512; i++) MMIO8(BUF + i) = (u8)(i * 7 + 3);
    report("write sector 1", request(1, 1, BUF, 512, 0) == 0);
    report("flush", request(4, 0, 0, 0, 0) == 0);
    for (int i = 0; i < 512; i++) MMIO8(BUF2 + i) = 0;
    report("read sector 1 back", request(0, 1, BUF2, 512, 1) == 0);
    same = 1;
    for (int i = 0; i < 512; i++) same &= MMIO8(BUF2 + i) == (u8)(i * 7 + 3);
    report("sector 1 data matches", same);
    report("read past the end fails", request(0, capacity, BUF2, 512, 1) == 1);
    report("get id", request(8, 0, BUF2, 20, 1) == 0);
#ifdef BENCH_MODE
    if (!checks_failed) enter_user(user_bench, 0x80000);
#endif

done:
    report_done("virtio-blk-test");
    outb(DEBUG_EXIT_PORT, (u8)checks_failed);
    for (;;) __asm__ volatile("cli; hlt");
}
