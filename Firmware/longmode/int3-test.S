/*
 * int3-test.S: the VMM's int3 fallback, checked from inside a guest. In
 * 32-bit protected mode with an IDT whose vector 3 is a trap gate, it runs
 * `int3` three times; the handler prints 'B' and checks that the return
 * address it was given is the instruction after the int3 (a trap, SDM Vol.
 * 3A 6.5). Then it prints "int3-test: ok" and writes 0x10 to
 * isa-debug-exit (status 0x21), or 0x11 (status 0x23) on a wrong address.
 * On kvm_pvm the host's emulator refuses int3 and the VMM completes it; on
 * VT-x the CPU runs it. QEMU on kvm_pvm stops at the first int3.
 */
#include "../include/reset.S"
#include "../include/puts32.S"
        enter_pm32
        mov     %ax, %es
        mov     %ax, %ss
        mov     $0x7000, %esp
        /* IDT entry 3 in RAM at 0x1000: a 32-bit trap gate to bp_handler. */
        mov     $bp_handler, %eax
        mov     %ax, 0x1018
        movw    $0x08, 0x101A
        movw    $0x8F00, 0x101C          /* P, DPL 0, 32-bit trap gate */
        shr     $16, %eax
        mov     %ax, 0x101E
        lidtl   idt_descriptor
        xor     %ebx, %ebx               /* wrong return addresses seen */
        int3
after1: mov     $after1, %ecx
        int3
after2: mov     $after2, %ecx
        int3
after3:
        mov     $ok_text, %esi
        call    puts
        mov     $0x10, %al
        add     %bl, %al
        out     %al, $0xF4
        hlt

/* #BP handler: 'B' on COM1; the pushed EIP must be the next label. It
 * returns by popping the frame and jumping there: kvm_pvm's emulator cannot
 * run a 32-bit `iret` either, and that is not what this test is about. */
bp_handler:
        pop     %edi                     /* EIP; then CS and EFLAGS */
        add     $8, %esp
        mov     %edi, %edx
        cmp     $after1, %edx
        je      1f
        cmp     $after2, %edx
        je      1f
        cmp     $after3, %edx
        je      1f
        mov     $1, %ebx
1:      mov     $'B', %al
        mov     $0x3F8, %dx
        out     %al, %dx
        jmp     *%edi

        puts32

        .section .rodata
ok_text:
        .asciz  "\nint3-test: ok\n"
idt_descriptor:
        .word   0x7FF
        .long   0x1000
        flat_gdt32

        reset_vector
