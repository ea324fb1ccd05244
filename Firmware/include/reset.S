/*
 * include/reset.S: what every -bios guest here ends with, as macros.
 *
 *   reset_vector   the .reset section (linked at 0xFFFF0 by rom.ld: the CPU's
 *                  first instruction, at F000:FFF0) jumping to start16
 *   enter_pm32     at start16: interrupts off, the flat GDT loaded, CR0.PE set,
 *                  a far jump to start32 with DS = the flat data segment
 *   flat_gdt32     gdt / gdt_descriptor: null, flat 32-bit code (0x08) and
 *                  data (0x10). In ROM (QEMU maps it read-only), so the
 *                  descriptors have their Accessed bit preset: otherwise the
 *                  CPU writes it when a selector is loaded (SDM Vol. 3A 3.4.5.1).
 */
.macro reset_vector
        .section .reset, "ax"
        .code16
        ljmp    $0xF000, $(start16 - 0xF0000)
        .balign 16, 0
.endm

.macro enter_pm32 banner
        .code16
        .section .text.start16, "ax"
        .globl start16
start16:
        cli
        mov     $0xF000, %ax
        mov     %ax, %ds
        .ifnb \banner
        mov     $\banner, %al
        mov     $0x3F8, %dx
        out     %al, %dx
        .endif
        lgdtl   (gdt_descriptor - 0xF0000)
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $start32
        .code32
start32:
        mov     $0x10, %ax
        mov     %ax, %ds
.endm

.macro flat_gdt32
        .balign 8
gdt:
        .quad   0
        .quad   0x00CF9B000000FFFF
        .quad   0x00CF93000000FFFF
gdt_end:
gdt_descriptor:
        .word   gdt_end - gdt - 1
        .long   gdt
.endm
