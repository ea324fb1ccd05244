/* guest.h: port I/O and COM1 output for the freestanding test kernel. */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

#define COM1            0x3F8
#define COM1_LSR        (COM1 + 5)
#define LSR_THR_EMPTY   0x20
#define DEBUG_EXIT_PORT 0xF4
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xFE
/* A port with no device behind it (QEMU's pc has a no-op dummy there). */
#define UNUSED_PORT     0x80

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d) {
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline void putc_serial(char c) {
    while (!(inb(COM1_LSR) & LSR_THR_EMPTY)) { }
    outb(COM1, (u8)c);
}

static inline void puts_serial(const char *s) {
    while (*s) putc_serial(*s++);
}

static inline void put_hex(u64 v) {
    puts_serial("0x");
    for (int shift = 60; shift >= 0; shift -= 4) putc_serial("0123456789abcdef"[(v >> shift) & 0xF]);
}

static inline void put_dec(u64 v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    puts_serial(&buf[i]);
}

/* The checks every test guest reports: "<prefix>: <check> ok|FAIL" per
 * check, counted, then "<prefix>: done pass=N fail=M"; the fail count is
 * what the guest writes to isa-debug-exit. */
static int checks_passed, checks_failed;

static inline void report_check(const char *prefix, const char *check, int ok) {
    puts_serial(prefix);
    puts_serial(": ");
    puts_serial(check);
    puts_serial(ok ? " ok\n" : " FAIL\n");
    if (ok) checks_passed++; else checks_failed++;
}

static inline void report_done(const char *prefix) {
    puts_serial(prefix);
    puts_serial(": done pass=");
    put_dec((u64)checks_passed);
    puts_serial(" fail=");
    put_dec((u64)checks_failed);
    puts_serial("\n");
}

#endif
