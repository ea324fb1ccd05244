/*
 * pvh-hello.S: the smallest PVH kernel, a 32-bit ELF (ELFCLASS32, EM_386)
 * with Xen's XEN_ELFNOTE_PHYS32_ENTRY note (xen/include/public/elfnote.h),
 * as QEMU's -kernel and ours start it: 32-bit protected mode, paging off,
 * EBX = hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
 * It checks the start_info magic and version, prints its command line on
 * COM1 and writes 0x10 to isa-debug-exit (status 0x21), or 0x11 (0x23)
 * when start_info is wrong.
 */
#include "../include/puts32.S"

        .section .note.Xen, "a", @note
        .balign 4
        .long   4                       /* namesz */
        .long   4                       /* descsz */
        .long   18                      /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   pvh_start

        .text
        .code32
        .globl  pvh_start
pvh_start:
        mov     $0x11, %cl              /* the failure status until proven */
        cmpl    $0x336ec578, (%ebx)     /* XEN_HVM_START_MAGIC_VALUE */
        jne     done
        cmpl    $1, 4(%ebx)             /* version >= 1 */
        jb      done
        mov     $hello, %esi
        call    puts
        mov     24(%ebx), %esi          /* cmdline_paddr (low 32 bits) */
        test    %esi, %esi
        jz      1f
        call    puts
1:      mov     $newline, %esi
        call    puts
        mov     $0x10, %cl
done:   mov     %cl, %al
        out     %al, $0xF4
        cli
        hlt

        puts32

        .section .rodata
hello:  .asciz  "pvh-hello: start_info ok, command line: "
newline: .asciz "\n"
