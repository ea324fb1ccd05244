/*
 * mbr.S: a boot sector for the SeaBIOS test. SeaBIOS loads it from the
 * virtio-blk disk to 0x7C00; it prints one line on COM1 and writes 0x31 to
 * isa-debug-exit at 0xf4 (status 0x63).
 */
        .code16
        .section .text
        .globl _start
_start:
        cli
        xor     %ax, %ax
        mov     %ax, %ds
        mov     $message, %si
1:      lodsb
        test    %al, %al
        jz      2f
        mov     %al, %bl
        mov     $0x3FD, %dx
3:      in      %dx, %al
        test    $0x20, %al
        jz      3b
        mov     $0x3F8, %dx
        mov     %bl, %al
        out     %al, %dx
        jmp     1b
2:      mov     $0x31, %al
        out     %al, $0xF4
4:      hlt
        jmp     4b

message:
        .asciz  "MBR: booted by SeaBIOS from the virtio-blk disk\n"

        .org    510
        .byte   0x55, 0xAA
