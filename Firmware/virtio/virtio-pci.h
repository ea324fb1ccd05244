/*
 * virtio-pci.h: what the virtio firmware drivers share: PCI configuration
 * mechanism #1, BAR assignment (as a BIOS would), the 3-4 GiB MMIO mapping,
 * and the virtio vendor capabilities (virtio 1.2 §4.1.4). Included by
 * blk-test.c and net-test.c; everything is static inline.
 */
#ifndef VIRTIO_PCI_H
#define VIRTIO_PCI_H
#include "../longmode/guest.h"

#define MMIO_WINDOW 0xC0000000ul   /* BARs go here: the PCI hole, mapped by map_mmio() */
#define IO_WINDOW   0xC000
#define PD_MMIO     0x4000          /* page directory for 3-4 GiB */
#define PDPT        0x2000

static inline void outl(u16 port, u32 v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline u32 inl(u16 port) { u32 v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

static inline u32 pci_read(int slot, int reg) { outl(0xCF8, 0x80000000u | (u32)slot << 11 | (reg & 0xFC)); return inl(0xCFC); }
static inline void pci_write(int slot, int reg, u32 v) { outl(0xCF8, 0x80000000u | (u32)slot << 11 | (reg & 0xFC)); outl(0xCFC, v); }
static inline u8 pci_read8(int slot, int reg) { return (u8)(pci_read(slot, reg) >> ((reg & 3) * 8)); }

#define MMIO8(a)  (*(volatile u8 *)(u64)(a))
#define MMIO16(a) (*(volatile u16 *)(u64)(a))
#define MMIO32(a) (*(volatile u32 *)(u64)(a))
#define MMIO64(a) (*(volatile u64 *)(u64)(a))

/* Identity-map 3-4 GiB with 2 MiB uncached pages (entry.S maps only 0-2 MiB),
 * user-accessible for the ring-3 benchmark. */
static inline void map_mmio(void) {
    volatile u64 *pd = (volatile u64 *)PD_MMIO;
    for (u64 i = 0; i < 512; i++) pd[i] = (0xC0000000ul + (i << 21)) | 0x9F;  /* P RW U PWT PCD PS */
    ((volatile u64 *)PDPT)[3] = PD_MMIO | 0x7;
    __asm__ volatile("mov %%cr3, %%rax; mov %%rax, %%cr3" ::: "rax", "memory");
}

static u64 bar_base[6];

/* Size every BAR and give it an address, as a BIOS would. */
static inline void assign_bars(int slot) {
    u64 mem = MMIO_WINDOW;
    u32 io = IO_WINDOW;
    for (int i = 0; i < 6; i++) {
        int reg = 0x10 + 4 * i;
        u32 orig = pci_read(slot, reg);
        pci_write(slot, reg, 0xFFFFFFFF);
        u32 mask = pci_read(slot, reg);
        if (mask == 0) continue;
        if (orig & 1) {                       /* I/O */
            u32 size = ~(mask & ~3u) + 1;
            io = (io + size - 1) & ~(size - 1);
            pci_write(slot, reg, io);
            bar_base[i] = io;
            io += size;
        } else {
            int is64 = (orig & 6) == 4;
            u64 size = ~(u64)(mask & ~0xFu) + 1;
            if (is64) {
                pci_write(slot, reg + 4, 0xFFFFFFFF);
                u64 hi = pci_read(slot, reg + 4);
                size = ~(((u64)hi << 32) | (mask & ~0xFu)) + 1;
            }
            size &= is64 ? ~0ul : 0xFFFFFFFFul;
            mem = (mem + size - 1) & ~(size - 1);
            pci_write(slot, reg, (u32)mem);
            if (is64) pci_write(slot, reg + 4, (u32)(mem >> 32));
            bar_base[i] = mem;
            mem += size;
            if (is64) i++;
        }
    }
    pci_write(slot, 0x04, 0x7);               /* I/O, memory, bus master */
}

static u64 common, notify, device_cfg;
static u32 notify_mult;

static inline int find_caps(int slot) {
    int p = pci_read8(slot, 0x34);
    while (p) {
        if (pci_read8(slot, p) == 0x09) {
            int type = pci_read8(slot, p + 3), bar = pci_read8(slot, p + 4);
            u64 at = bar_base[bar] + pci_read(slot, p + 8);
            if (type == 1) common = at;
            if (type == 2) { notify = at; notify_mult = pci_read(slot, p + 16); }
            if (type == 4) device_cfg = at;
        }
        p = pci_read8(slot, p + 1);
    }
    return common && notify && device_cfg;
}

/* The first function on bus 0 with vendor 1af4 and one of the two device
 * ids (modern, transitional), or -1. */
static inline int find_virtio(u32 modern, u32 transitional) {
    for (int s = 0; s < 32; s++) {
        u32 id = pci_read(s, 0);
        if (id == (modern << 16 | 0x1AF4) || id == (transitional << 16 | 0x1AF4)) return s;
    }
    return -1;
}

#endif
