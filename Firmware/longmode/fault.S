/*
 * fault.S: a guest that ends badly on purpose, to test how the VMM reports
 * it. It prints a line, enters 32-bit protected mode with no IDT and runs
 * `int3`. Under an emulated ring 0 (kvm_pvm) KVM cannot emulate that and
 * stops with KVM_EXIT_INTERNAL_ERROR; on VT-x hardware it triple-faults
 * (KVM_EXIT_SHUTDOWN). Either way the VMM must stop cleanly and say why.
 */
#include "../include/reset.S"
        .code16
        .section .text.start16, "ax"
        .globl start16
start16:
        cli
        mov     $0xF000, %ax
        mov     %ax, %ds
        mov     $'!', %al
        mov     $0x3F8, %dx
        out     %al, %dx
        lgdtl   (gdt_descriptor - 0xF0000)
        mov     %cr0, %eax
        or      $1, %eax
        mov     %eax, %cr0
        ljmpl   $0x08, $start32
        .code32
start32:
        mov     $0x10, %ax
        mov     %ax, %ds
        int3
        hlt

        .section .rodata
        flat_gdt32

        reset_vector
