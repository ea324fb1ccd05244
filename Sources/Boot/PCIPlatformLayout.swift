/// The PCI side of the PC platform, as the firmware tables (DSDT, MP table)
/// describe it and as Machine wires the devices: one source of truth, so
/// what the guest is told is what the devices do.
public enum PCIPlatformLayout {
    /// Configuration mechanism #1 ports, claimed by the host bridge.
    public static let configPorts: ClosedRange<UInt16> = 0xCF8...0xCFF
    /// I/O windows the bridge forwards to PCI: everything but the config ports.
    public static let ioWindows: [ClosedRange<UInt16>] = [0x0000...0x0CF7, 0x0D00...0xFFFF]
    /// The 32-bit MMIO window: the PCI hole from 3 GiB (where low RAM ends at
    /// most, GuestMemory.lowMemoryLimit) up to the IOAPIC at 0xFEC00000.
    /// BARs are placed here by the guest (Linux, SeaBIOS, our firmware).
    public static let memoryWindow32: ClosedRange<UInt32> = 0xC000_0000...0xFEBF_FFFF
    /// Slots that take devices (0 is the host bridge).
    public static let deviceSlots: ClosedRange<Int> = 1...31

    /// The IOAPIC input (GSI) that INTx `pin` (0 = INTA# ... 3 = INTD#) of the
    /// device in `slot` raises: GSIs 16-19, rotated per slot the way PCI
    /// bridges swizzle pins (PCI-to-PCI Bridge Architecture 1.2, §9.1), so
    /// neighbouring slots' INTA# do not share a line. Level-triggered; KVM's
    /// IOAPIC treats a raised line as asserted whatever the polarity bit says.
    public static func gsi(slot: Int, pin: Int) -> UInt8 {
        UInt8(16 + (slot + pin) % 4)
    }
}
