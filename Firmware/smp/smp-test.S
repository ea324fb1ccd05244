/*
 * smp-test.S: the boot CPU wakes the application processors the way a BIOS
 * does (Intel SDM Vol. 3A 9.4.4: INIT IPI, then two STARTUP IPIs through the
 * local APIC's ICR) and each AP reports over COM1. The CPU count comes from
 * CMOS 0x5F (count - 1), as SeaBIOS reads it.
 *   "smp-test: bsp up, expecting N cpus"
 *   "smp-test: ap A up"          (one per AP, A = its initial APIC id)
 *   "smp-test: N cpus up"        then status 1 via isa-debug-exit
 *   "smp-test: FAIL ..."         status 3
 * The APs start in real mode at F100:0000 (SIPI vector 0xF1), which is this
 * image's offset 0x1000, so they run straight from the BIOS window.
 */
#include "../include/reset.S"
#define LOCK    0x600           /* RAM: print lock (xchg) */
#define ARRIVED 0x604           /* RAM: APs that reported (lock incl) */
#define LAPIC   0xFEE00000
#define ICR_LO  0x300
#define SVR     0x0F0

        .code16
        .section .text.start16, "ax"
        .globl start16
start16:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        mov     $0x7000, %sp
        movl    $0, LOCK
        movl    $0, ARRIVED

        mov     $0x5F, %al              /* CMOS: CPU count - 1 */
        out     %al, $0x70
        in      $0x71, %al
        movzbl  %al, %ebp               /* EBP = APs expected */

        mov     $(msg_bsp - 0xF0000), %si
        call    print
        lea     1(%ebp), %eax
        call    print_dec
        mov     $(msg_cpus - 0xF0000), %si
        call    print

        /* To flat 32-bit protected mode to reach the local APIC. */
        push    %ds
        mov     $0xF000, %ax
        mov     %ax, %ds
        lgdtl   (gdt_descriptor - 0xF0000)
        pop     %ds
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $bsp32

        .code32
bsp32:
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        movl    $0x1FF, LAPIC + SVR     /* APIC software enable */
        movl    $0x000C4500, LAPIC + ICR_LO  /* INIT, assert, all but self */
        mov     $2000, %ecx             /* ~10 ms here; more on hardware */
1:      loop    1b
        movl    $0x000C46F1, LAPIC + ICR_LO  /* STARTUP, vector 0xF1 */
        mov     $200, %ecx
2:      loop    2b
        movl    $0x000C46F1, LAPIC + ICR_LO  /* second STARTUP, per the SDM */

        /* Wait for every AP to report (bounded). */
        mov     $20000000, %ecx
3:      mov     ARRIVED, %eax
        cmp     %ebp, %eax
        jae     4f
        pause
        loop    3b
        jmp     fail32
4:      /* Report under the lock: an AP's second STARTUP may still print. */
        call    lock32
        mov     $msg_prefix, %esi
        call    print32
        lea     1(%ebp), %eax
        call    print_dec32
        mov     $msg_up, %esi
        call    print32
        movl    $0, LOCK
        mov     $0, %al
        out     %al, $0xF4
        jmp     halt32
fail32:
        mov     $msg_fail, %esi
        call    print32
        mov     $1, %al
        out     %al, $0xF4
halt32: cli
        hlt
        jmp     halt32

putc32:
        push    %edx
        push    %eax
        mov     $0x3FD, %dx
18:     in      %dx, %al
        test    $0x20, %al
        jz      18b
        pop     %eax
        mov     $0x3F8, %dx
        out     %al, %dx
        pop     %edx
        ret

lock32: mov     $1, %eax
5:      xchg    %eax, LOCK
        test    %eax, %eax
        jnz     5b
        ret

print32:
        mov     (%esi), %al
        test    %al, %al
        jz      6f
        call    putc32
        inc     %esi
        jmp     print32
6:      ret

print_dec32:
        mov     $10, %ecx
        xor     %ebx, %ebx
7:      xor     %edx, %edx
        div     %ecx
        push    %edx
        inc     %ebx
        test    %eax, %eax
        jnz     7b
8:      pop     %eax
        add     $'0', %al
        call    putc32
        dec     %ebx
        jnz     8b
        ret

        .code16
/* 16-bit helpers, for the BSP before protected mode and for the APs. */
#include "../include/realmode.S"

msg_bsp:    .asciz "smp-test: bsp up, expecting "
msg_cpus:   .asciz " cpus\n"
msg_ap:     .asciz "smp-test: ap "
msg_apup:   .asciz " up\n"
        flat_gdt32

/* 32-bit messages at flat addresses. */
msg_prefix: .asciz "smp-test: "
msg_up:     .asciz " cpus up\n"
msg_fail:   .asciz "smp-test: FAIL: not every AP reported\n"

/* The AP's real-mode work, reached with CS = 0xF000 like the BSP's code. */
        .code16
ap_main:
        xor     %ax, %ax
        mov     %ax, %ds
        mov     %ax, %ss
        mov     $1, %eax                /* each AP its own stack: 0x6F00 - 0x100 * id */
        cpuid
        shr     $24, %ebx
        mov     %bx, %di                /* DI = APIC id */
        mov     %di, %ax
        shl     $8, %ax
        mov     $0x6F00, %sp
        sub     %ax, %sp
13:     mov     $1, %eax                /* take the print lock */
        xchg    %eax, LOCK
        test    %eax, %eax
        jnz     13b
        mov     $(msg_ap - 0xF0000), %si
        call    print
        movzwl  %di, %eax
        call    print_dec
        mov     $(msg_apup - 0xF0000), %si
        call    print
        movl    $0, LOCK
        lock incl ARRIVED
14:     cli
        hlt
        jmp     14b

/* The AP entry: F100:0000 (physical 0xF1000), real mode. */
        .section .text.ap, "ax"
        .code16
ap_start:
        cli
        ljmp    $0xF000, $(ap_main - 0xF0000)

        reset_vector
