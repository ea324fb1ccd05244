/*
 * irq-echo.S: a real-mode firmware that echoes COM1 input in upper case,
 * driven by the UART's received-data interrupt through the 8259 PIC (IRQ 4,
 * vector 0x0C). It proves host input -> 16550 -> irqchip -> guest.
 * "q" ends it: it prints "echo: bye" and writes 5 to isa-debug-exit at 0xf4
 * (status 11).
 */
#include "../include/reset.S"
#define COM1     0x3F8
#define FLAG     0x500          /* RAM byte: 1 once "q" was received */
#define VECTOR   0x0C           /* PIC master base 0x08 + IRQ 4 */

#include "../include/pic-legacy.S"

        .code16
        .section .text.start16, "ax"
        .globl start16
start16:
        cli
        xor     %ax, %ax
        mov     %ax, %ss
        mov     $0x7000, %sp
        mov     %ax, %es
        movb    $0, %es:FLAG
        /* IVT entry for the UART interrupt. */
        movw    $(irq4 - 0xF0000), %es:(VECTOR * 4)
        movw    $0xF000, %es:(VECTOR * 4 + 2)

        pic_legacy_init 0xEF             /* unmask IRQ 4 only */

        /* UART: 8N1, FIFO on (trigger 1), RX interrupt, OUT2 (IRQ gate). */
        mov     $(COM1 + 3), %dx
        mov     $0x03, %al
        out     %al, %dx
        mov     $(COM1 + 2), %dx
        mov     $0x07, %al
        out     %al, %dx
        mov     $(COM1 + 4), %dx
        mov     $0x0B, %al              /* DTR | RTS | OUT2 */
        out     %al, %dx
        mov     $(COM1 + 1), %dx
        mov     $0x01, %al              /* IER: received data available */
        out     %al, %dx

        mov     $(ready - 0xF0000), %si
        call    print

wait:   sti
        hlt
        cli
        cmpb    $0, %es:FLAG
        je      wait

        mov     $(bye - 0xF0000), %si
        call    print
        mov     $5, %al
        out     %al, $0xF4
1:      hlt
        jmp     1b

/* IRQ 4: drain the receiver, echo each byte upper-cased, EOI the PIC. */
irq4:
        push    %ax
        push    %dx
2:      mov     $(COM1 + 5), %dx
        in      %dx, %al
        test    $0x01, %al              /* LSR.DR */
        jz      4f
        mov     $COM1, %dx
        in      %dx, %al
        cmp     $'q', %al
        jne     3f
        movb    $1, %es:FLAG
        jmp     2b
3:      cmp     $'a', %al
        jb      5f
        cmp     $'z', %al
        ja      5f
        sub     $0x20, %al
5:      call    putc
        jmp     2b
4:      mov     $0x20, %al              /* non-specific EOI */
        out     %al, $0x20
        pop     %dx
        pop     %ax
        iret

#include "../include/realmode.S"

ready:  .asciz  "echo: ready\n"
bye:    .asciz  "\necho: bye\n"

        reset_vector
