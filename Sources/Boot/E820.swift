import Memory

/// The BIOS memory map the kernel is told about (boot.rst, e820_table; the
/// same map goes into PVH's hvm_memmap_table_entry list).
public struct E820Entry: Equatable, Sendable {
    public enum Kind: UInt32, Sendable { case ram = 1, reserved = 2 }
    public var address: UInt64
    public var size: UInt64
    public var kind: Kind

    public init(address: UInt64, size: UInt64, kind: Kind) {
        self.address = address
        self.size = size
        self.kind = kind
    }

    /// The PC map for `ramSize` bytes of RAM laid out as GuestMemory does:
    /// conventional memory below the EBDA, the BIOS area reserved, RAM from
    /// 1 MiB to the PCI hole, the KVM TSS/identity pages and the firmware
    /// window reserved, RAM above 4 GiB.
    public static func pcMap(ramSize: UInt64) -> [E820Entry] {
        let low = min(ramSize, GuestMemory.lowMemoryLimit)
        var map = [
            E820Entry(address: 0, size: 0x9_FC00, kind: .ram),
            E820Entry(address: 0x9_FC00, size: 0x400, kind: .reserved),   // EBDA
            E820Entry(address: 0xE_0000, size: 0x2_0000, kind: .reserved), // BIOS area
            E820Entry(address: 0x10_0000, size: low - 0x10_0000, kind: .ram),
            E820Entry(address: 0xFEFF_C000, size: 0x4000, kind: .reserved), // KVM identity map + TSS
        ]
        if ramSize > low {
            map.append(E820Entry(address: GuestMemory.highMemoryBase, size: ramSize - low, kind: .ram))
        }
        return map
    }
}
