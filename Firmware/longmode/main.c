/*
 * main.c: the SwiftVMM test kernel (also the demo guest). Built as a 64 KiB
 * -bios image; runs unchanged on swiftvmm and on qemu-system-x86_64
 * -enable-kvm. Reports lines "swiftvmm-test: <check> ok|FAIL ..." on COM1,
 * ends with "swiftvmm-test: done pass=N fail=M", writes the fail count to
 * the debug-exit port 0xf4 (status (fails << 1) | 1), then asks for a reset
 * (i8042 command 0xFE, then a triple fault if still running), which ends the
 * VMM with status 0 under -no-reboot. There is no way back to ring 0 here:
 * `syscall` and `int n` are not usable under an emulated ring 0 (HOST.md).
 *
 * EXIT_LOOP=N builds the exit benchmark: N `out` instructions to an unused
 * port from ring 3 between two marker lines. TICKER builds a guest that, after
 * its checks, prints "swiftvmm-tick: N" from a ring-3 hot loop forever (for
 * pause/resume tests). TRIPLE_FAULT skips the i8042 reset, so the run ends
 * in a triple fault (KVM_EXIT_SHUTDOWN).
 */
#include "guest.h"

#ifndef EXIT_LOOP
#define EXIT_LOOP 0
#endif

#define USER_STACK 0x80000

void enter_user(void (*fn)(void), u64 stack);
void kmain(void);


static void report(const char *check, int ok) { report_check("swiftvmm-test", check, ok); }

static u16 current_cpl(void) {
    u16 cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    return cs & 3;
}

/* Runs natively in ring 3 on hosts where ring 0 is emulated. */
static u64 checksum_loop(u64 n) {
    u64 x = 0x9E3779B97F4A7C15ul;
    for (u64 i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

static void user_main(void) {
    report("ring3 cpl=3", current_cpl() == 3);

    /* xorshift64 over 10^6 steps; the expected value is fixed. */
    u64 sum = checksum_loop(1000000);
    puts_serial("swiftvmm-test: ring3 xorshift64(10^6) = ");
    put_hex(sum);
    puts_serial("\n");
    report("ring3 compute", sum == 0x3e746a84b0b86f03ul);

#if EXIT_LOOP > 0
    puts_serial("swiftvmm-bench: exit loop start n=");
    put_dec(EXIT_LOOP);
    puts_serial("\n");
    for (u32 i = 0; i < EXIT_LOOP; i++) outb(UNUSED_PORT, (u8)i);
    puts_serial("swiftvmm-bench: exit loop end\n");
#endif

#ifdef TICKER
    for (u64 tick = 0;; tick++) {
        checksum_loop(2000000);
        puts_serial("swiftvmm-tick: ");
        put_dec(tick);
        puts_serial("\n");
    }
#endif

    report_done("swiftvmm-test");
    outb(DEBUG_EXIT_PORT, (u8)checks_failed);
    /* Reset: the keyboard controller's pulse-reset command, as Linux's
     * reboot=k does; if nothing resets us, hlt in ring 3 raises #GP with no
     * IDT, a triple fault, which is a reset too. */
#ifndef TRIPLE_FAULT
    outb(I8042_COMMAND_PORT, I8042_CMD_RESET);
#endif
    for (;;) __asm__ volatile("hlt");
}

void kmain(void) {
    checks_passed = checks_failed = 0;
    puts_serial("swiftvmm-test: SwiftVMM test kernel: real mode -> long mode\n");
    report("long-mode cpl=0", current_cpl() == 0);

    u32 a, b, c, d;
    cpuid(0x80000001, &a, &b, &c, &d);
    report("cpuid long-mode bit", (d >> 29) & 1);

    enter_user(user_main, USER_STACK);
}
