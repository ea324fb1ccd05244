/*
 * entry.S: from the x86 reset vector to 64-bit C, for the SwiftVMM test
 * kernel. Real mode -> 32-bit protected mode -> long mode (PAE paging, one
 * identity-mapped 2 MiB page, user-accessible) -> kmain() in ring 0.
 * kmain drops to ring 3 with IOPL 3 (so in/out still work there) and never
 * comes back: it ends the run from ring 3 (see main.c).
 *
 * Ring-0 work is kept to a few hundred instructions: on hosts without VT-x
 * ring 0 is emulated (see shared/HOST.md). No int/int3/xsave here.
 */
#include "../include/reset.S"
#define PML4    0x1000
#define PDPT    0x2000
#define PD      0x3000
#define STACK   0x90000

#define CODE32  0x08
#define DATA    0x10
#define CODE64  0x18
#define USER_DATA 0x28
#define USER_CODE 0x30

        .code16
        .section .text.start16, "ax"
        .globl start16
start16:
        cli
        cld
        mov     $0xF000, %ax
        mov     %ax, %ds
        lgdtl   (gdt_descriptor - 0xF0000)
        mov     %cr0, %eax
        or      $1, %eax                        /* CR0.PE */
        mov     %eax, %cr0
        ljmpl   $CODE32, $start32

        .code32
start32:
        mov     $DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        mov     $STACK, %esp

        /* Page tables: PML4[0] -> PDPT, PDPT[0] -> PD, PD[0] = 2 MiB page at 0.
         * Present | writable | user (bit 2) at every level, PS for the page. */
        xor     %eax, %eax
        mov     $PML4, %edi
        mov     $(3 * 4096 / 4), %ecx
        rep stosl
        movl    $(PDPT | 0x7), PML4
        movl    $(PD | 0x7), PDPT
        movl    $0x87, PD

        mov     %cr4, %eax
        or      $(1 << 5), %eax                 /* CR4.PAE */
        mov     %eax, %cr4
        mov     $PML4, %eax
        mov     %eax, %cr3
        mov     $0xC0000080, %ecx               /* EFER */
        rdmsr
        or      $(1 << 8), %eax                 /* EFER.LME */
        wrmsr
        mov     %cr0, %eax
        or      $(1 << 31), %eax                /* CR0.PG: long mode active */
        mov     %eax, %cr0
        ljmpl   $CODE64, $start64

        .code64
start64:
        mov     $STACK, %rsp
        call    kmain
        jmp     halt_forever

/* void enter_user(void (*fn)(void), uint64_t stack): iretq to ring 3,
 * RFLAGS = IOPL 3, IF = 0. */
        .globl enter_user
enter_user:
        pushq   $(USER_DATA | 3)
        pushq   %rsi
        pushq   $0x3002
        pushq   $(USER_CODE | 3)
        pushq   %rdi
        iretq

halt_forever:
        cli
        hlt
        jmp     halt_forever

        /* The GDT lives in ROM (QEMU maps this window read-only), so every
         * descriptor has its Accessed bit preset: otherwise loading a
         * selector makes the CPU write the bit into ROM (SDM Vol. 3A 3.4.5.1). */
        .section .rodata
        .balign 8
gdt:
        .quad   0                               /* 0x00 null */
        .quad   0x00CF9B000000FFFF              /* 0x08 code, 32-bit, ring 0 */
        .quad   0x00CF93000000FFFF              /* 0x10 data, ring 0 */
        .quad   0x00AF9B000000FFFF              /* 0x18 code, 64-bit, ring 0 */
        .quad   0x00CF93000000FFFF              /* 0x20 data, ring 0 (unused) */
        .quad   0x00CFF3000000FFFF              /* 0x28 data, ring 3 */
        .quad   0x00AFFB000000FFFF              /* 0x30 code, 64-bit, ring 3 */
gdt_end:
gdt_descriptor:
        .word   gdt_end - gdt - 1
        .long   gdt

        reset_vector
