/*
 * fault.S: a guest that ends badly on purpose, to test how the VMM reports
 * it. It prints a line, enters 32-bit protected mode with no IDT and runs
 * `popcnt` then `int3`. Under an emulated ring 0 (kvm_pvm) KVM cannot
 * emulate popcnt, nor can the VMM's fallbacks: KVM_EXIT_INTERNAL_ERROR
 * stops it there; on VT-x hardware popcnt runs and the int3 with no IDT
 * triple-faults (KVM_EXIT_SHUTDOWN). Either way the VMM must stop cleanly
 * and say why.
 */
#include "../include/reset.S"
        enter_pm32 '!'
        popcnt  %eax, %eax
        int3
        hlt

        .section .rodata
        flat_gdt32

        reset_vector
