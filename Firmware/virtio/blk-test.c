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
#include "../longmode/guest.h"

#define MMIO_WINDOW 0xC0000000ul   /* BARs go here: the PCI hole, mapped by map_mmio() */
#define IO_WINDOW   0xC000
#define PD_MMIO     0x4000          /* page directory for 3-4 GiB */
#define PDPT        0x2000
#define DESC        0x30000
#define AVAIL       0x31000
#define USED        0x32000
#define HDR         0x33000
#define BUF         0x34000
#define BUF2        0x35000
#define STATUS      0x36000
#define BIG         0x40000         /* 64 KiB benchmark buffer */
#define QSIZE       16

static int passed, failed;

static void report(const char *check, int ok) {
    puts_serial("virtio-blk-test: ");
    puts_serial(check);
    puts_serial(ok ? " ok\n" : " FAIL\n");
    if (ok) passed++; else failed++;
}

static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static u32 pci_read(int slot, int reg) { outl(0xCF8, 0x80000000u | (u32)slot << 11 | (reg & 0xFC)); return inl(0xCFC); }
static void pci_write(int slot, int reg, u32 v) { outl(0xCF8, 0x80000000u | (u32)slot << 11 | (reg & 0xFC)); outl(0xCFC, v); }
static u8 pci_read8(int slot, int reg) { return (u8)(pci_read(slot, reg) >> ((reg & 3) * 8)); }

#define MMIO8(a)  (*(volatile u8 *)(u64)(a))
#define MMIO16(a) (*(volatile u16 *)(u64)(a))
#define MMIO32(a) (*(volatile u32 *)(u64)(a))
#define MMIO64(a) (*(volatile u64 *)(u64)(a))

/* Identity-map 3-4 GiB with 2 MiB uncached pages (entry.S maps only 0-2 MiB),
 * user-accessible for the ring-3 benchmark. */
static void map_mmio(void) {
    volatile u64 *pd = (volatile u64 *)PD_MMIO;
    for (u64 i = 0; i < 512; i++) pd[i] = (0xC0000000ul + (i << 21)) | 0x9F;  /* P RW U PWT PCD PS */
    ((volatile u64 *)PDPT)[3] = PD_MMIO | 0x7;
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
}

static u64 bar_base[6];

/* Size every BAR and give it an address, as a BIOS would. */
static void assign_bars(int slot) {
    u64 mem = MMIO_WINDOW;
    u32 io = IO_WINDOW;
    for (int i = 0; i < 6; i++) {
        int reg = 0x10 + 4 * i;
        u32 orig = pci_read(slot, reg);
        pci_write(slot, reg, 0xFFFFFFFF);
        u32 mask = pci_read(slot, reg);
        if (mask == 0) continue;
        if (orig & 1) {                       /* I/O */
            u32 size = ~(mask & ~3u) + 1;
            io = (io + size - 1) & ~(size - 1);
            pci_write(slot, reg, io);
            bar_base[i] = io;
            io += size;
        } else {
            int is64 = (orig & 6) == 4;
            u64 size = ~(u64)(mask & ~0xFu) + 1;
            if (is64) {
                pci_write(slot, reg + 4, 0xFFFFFFFF);
                u64 hi = pci_read(slot, reg + 4);
                size = ~(((u64)hi << 32) | (mask & ~0xFu)) + 1;
            }
            size &= is64 ? ~0ul : 0xFFFFFFFFul;
            mem = (mem + size - 1) & ~(size - 1);
            pci_write(slot, reg, (u32)mem);
            if (is64) pci_write(slot, reg + 4, (u32)(mem >> 32));
            bar_base[i] = mem;
            mem += size;
            if (is64) i++;
        }
    }
    pci_write(slot, 0x04, 0x7);               /* I/O, memory, bus master */
}

static u64 common, notify, device_cfg;
static u32 notify_mult;
static u16 avail_idx, used_seen;

static int find_caps(int slot) {
    int p = pci_read8(slot, 0x34);
    while (p) {
        if (pci_read8(slot, p) == 0x09) {
            int type = pci_read8(slot, p + 3), bar = pci_read8(slot, p + 4);
            u64 at = bar_base[bar] + pci_read(slot, p + 8);
            if (type == 1) common = at;
            if (type == 2) { notify = at; notify_mult = pci_read(slot, p + 16); }
            if (type == 4) device_cfg = at;
        }
        p = pci_read8(slot, p + 1);
    }
    return common && notify && device_cfg;
}

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
    passed = failed = 0;
    avail_idx = used_seen = 0;
    puts_serial("virtio-blk-test: start\n");
    map_mmio();
    int slot = -1;
    for (int s = 0; s < 32; s++) {
        u32 id = pci_read(s, 0);
        if (id == 0x10421AF4 || id == 0x10011AF4) { slot = s; break; }
    }
    report("found virtio-blk on PCI", slot >= 0);
    if (slot < 0) goto done;
    assign_bars(slot);
    report("virtio capabilities", find_caps(slot));
    if (failed) goto done;

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
    if (!failed) enter_user(user_bench, 0x80000);
#endif

done:
    puts_serial("virtio-blk-test: done pass=");
    put_dec((u64)passed);
    puts_serial(" fail=");
    put_dec((u64)failed);
    puts_serial("\n");
    outb(DEBUG_EXIT_PORT, (u8)failed);
    for (;;) __asm__ volatile("cli; hlt");
}
