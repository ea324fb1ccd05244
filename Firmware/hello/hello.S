/*
 * hello.S: a 64 KiB real-mode firmware image (-bios). It prints one line on
 * COM1 and asks the VMM to exit through QEMU's isa-debug-exit at port 0xf4
 * with value 0x10, so the VMM exits with status (0x10 << 1) | 1 = 0x21.
 *
 * The image is mapped so it ends at 4 GiB and its copy ends at 1 MiB; the CPU
 * starts at F000:FFF0 (the last 16 bytes), which jumps to the copy at 0xF0000.
 */
#include "../include/reset.S"
        .code16
        .section .text
        .globl start16
start16:
        cli
        mov     $0xF000, %ax
        mov     %ax, %ds
        mov     $(message - 0xF0000), %si
1:      lodsb
        test    %al, %al
        jz      2f
        mov     %al, %bl
        mov     $0x3FD, %dx             /* LSR: wait for THR empty (bit 5) */
3:      in      %dx, %al
        test    $0x20, %al
        jz      3b
        mov     $0x3F8, %dx             /* THR */
        mov     %bl, %al
        out     %al, %dx
        jmp     1b
2:      mov     $0x10, %al              /* debug-exit: status 0x21 */
        out     %al, $0xF4
halt:   hlt
        jmp     halt

message:
        .asciz  "Hello from a real-mode guest on COM1\n"

        reset_vector
