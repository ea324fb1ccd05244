/*
 * include/realmode.S: COM1 helpers shared by the real-mode firmware guests.
 * Include it inside a .code16 text section that runs with CS = 0xF000.
 *
 *   putc        AL to COM1 once THR is empty (LSR bit 5)
 *   print       the NUL-terminated string at CS:SI
 *   print_dec   EAX in decimal (clobbers EAX, EBX, ECX, EDX)
 */
putc:
        push    %dx
        push    %ax
        mov     $0x3FD, %dx
1:      in      %dx, %al
        test    $0x20, %al
        jz      1b
        pop     %ax
        mov     $0x3F8, %dx
        out     %al, %dx
        pop     %dx
        ret

print:
        mov     %cs:(%si), %al
        test    %al, %al
        jz      1f
        call    putc
        inc     %si
        jmp     print
1:      ret

print_dec:
        mov     $10, %ecx
        xor     %bx, %bx
1:      xor     %edx, %edx
        div     %ecx
        push    %dx
        inc     %bx
        test    %eax, %eax
        jnz     1b
2:      pop     %ax
        add     $'0', %al
        call    putc
        dec     %bx
        jnz     2b
        ret
