/*
 * include/puts32.S: `puts32`, a 32-bit routine writing the NUL-terminated
 * string at ESI to COM1's data port (0x3F8), without polling LSR (QEMU's
 * UART and ours take each byte at once). Clobbers AL, DX, ESI.
 */
.macro puts32
puts:   mov     $0x3F8, %dx
1:      lodsb
        test    %al, %al
        jz      2f
        out     %al, %dx
        jmp     1b
2:      ret
.endm
