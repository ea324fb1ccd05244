/*
 * include/pic-legacy.S: the pic_legacy_init MASK macro for real-mode guests
 * that take interrupts through the 8259 (include it before use): local APIC
 * off, so the 8259's INTR reaches the CPU directly as on a pre-APIC PC (Intel
 * SDM Vol. 3A 11.4.3; a BIOS would set LINT0 to ExtINT instead), then 8259A
 * ICW1-4: edge, cascade, vectors 0x08/0x70, 8086 mode; master mask MASK,
 * slave all masked.
 */
        .macro pic_legacy_init mask
        mov     $0x1B, %ecx
        rdmsr
        and     $~0x800, %eax
        wrmsr
        mov     $0x11, %al
        out     %al, $0x20
        out     %al, $0xA0
        mov     $0x08, %al
        out     %al, $0x21
        mov     $0x70, %al
        out     %al, $0xA1
        mov     $0x04, %al
        out     %al, $0x21
        mov     $0x02, %al
        out     %al, $0xA1
        mov     $0x01, %al
        out     %al, $0x21
        out     %al, $0xA1
        mov     $\mask, %al
        out     %al, $0x21
        mov     $0xFF, %al
        out     %al, $0xA1
        .endm
