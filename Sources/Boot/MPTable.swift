/// The Intel MultiProcessor Specification 1.4 tables (chapter 4), for
/// kernels booted with acpi=off: the floating pointer in the BIOS area, the
/// configuration table with one processor entry per CPU, the PCI bus (bus
/// id 0 = PCI bus 0, as Linux matches them) and the ISA bus (id 1), the
/// IOAPIC, ISA IRQs 0-15 on IOAPIC pins 0-15, every PCI slot's INTA#-INTD#
/// on the GSIs of PCIPlatformLayout, and the local interrupts (ExtINT on
/// LINT0, NMI on LINT1).
public enum MPTable {
    /// Floating pointer (16-byte aligned, in 0xF0000-0xFFFFF where Linux looks).
    public static let floatingPointerAddress: UInt64 = 0xF_0040
    static let configurationAddress: UInt64 = 0xF_0100

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func checksum(_ b: [UInt8]) -> UInt8 { UInt8(truncatingIfNeeded: 0 &- b.reduce(0) { $0 &+ Int($1) }) }

    /// (address, bytes) of the floating pointer and the configuration table.
    public static func build(cpus: Int) -> [(address: UInt64, bytes: [UInt8])] {
        var entries: [UInt8] = []
        var count = 0
        for i in 0..<cpus {
            // Processor: LAPIC id, version 0x14, EN (+ BP for the first), family 6 signature, FPU|APIC features.
            entries += [0, UInt8(i), 0x14, i == 0 ? 0x03 : 0x01] + le(UInt32(0x600)) + le(UInt32(0x201)) + [UInt8](repeating: 0, count: 8)
            count += 1
        }
        let pciBus: UInt8 = 0, isaBus: UInt8 = 1
        entries += [1, pciBus] + Array("PCI   ".utf8)
        entries += [1, isaBus] + Array("ISA   ".utf8)
        count += 2
        let ioapicID = UInt8(cpus)
        entries += [2, ioapicID, 0x11, 0x01] + le(UInt32(0xFEC0_0000))  // IOAPIC, enabled
        count += 1
        for irq in 0..<16 {
            // I/O interrupt assignment: INT, conforming polarity/trigger, ISA irq -> IOAPIC pin irq.
            entries += [3, 0] + le(UInt16(0)) + [isaBus, UInt8(irq), ioapicID, UInt8(irq)]
            count += 1
        }
        for slot in PCIPlatformLayout.deviceSlots {
            for pin in 0..<4 {
                // PCI source bus IRQ (§D.3): bits 6-2 the device, 1-0 the pin.
                // Flags 0x0F: active low, level triggered, as PCI INTx is.
                let source = UInt8(slot << 2 | pin)
                entries += [3, 0] + le(UInt16(0x000F)) + [pciBus, source, ioapicID, PCIPlatformLayout.gsi(slot: slot, pin: pin)]
                count += 1
            }
        }
        entries += [4, 3] + le(UInt16(0)) + [0, 0, 0xFF, 0]  // ExtINT -> LINT0 of every LAPIC
        entries += [4, 1] + le(UInt16(0)) + [0, 0, 0xFF, 1]  // NMI -> LINT1
        count += 2

        var header = Array("PCMP".utf8) + le(UInt16(44 + entries.count)) + [4, 0]
        header += Array("SWIFTVMM".utf8) + Array("SwiftVMM PC ".utf8)
        header += le(UInt32(0)) + le(UInt16(0)) + le(UInt16(count)) + le(UInt32(0xFEE0_0000)) + le(UInt16(0)) + [0, 0]
        var table = header + entries
        table[7] = checksum(table)

        var pointer = Array("_MP_".utf8) + le(UInt32(configurationAddress)) + [1, 4, 0] + [0, 0, 0, 0, 0]
        pointer[10] = checksum(pointer)
        return [(floatingPointerAddress, pointer), (configurationAddress, table)]
    }
}
