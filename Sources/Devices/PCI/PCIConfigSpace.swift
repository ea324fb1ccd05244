/// A PCI function's 256-byte configuration space (PCI Local Bus
/// Specification 3.0, §6.1-6.2) with a per-byte write mask, so guest writes
/// reach only the bits the device lets it change. BARs are handled by
/// `PCIFunction`, not by the mask.
public struct PCIConfigSpace: Sendable {
    public static let size = 256

    // Standard header offsets (type 0).
    public static let vendorID = 0x00, deviceID = 0x02, command = 0x04, status = 0x06
    public static let revisionID = 0x08, classCode = 0x09, headerType = 0x0E
    public static let bar0 = 0x10, subsystemVendorID = 0x2C, subsystemID = 0x2E
    public static let capabilitiesPointer = 0x34, interruptLine = 0x3C, interruptPin = 0x3D

    /// Command register bits.
    public struct Command: OptionSet, Sendable {
        public let rawValue: UInt16
        public init(rawValue: UInt16) { self.rawValue = rawValue }
        public static let ioSpace = Command(rawValue: 1 << 0)
        public static let memorySpace = Command(rawValue: 1 << 1)
        public static let busMaster = Command(rawValue: 1 << 2)
        public static let interruptDisable = Command(rawValue: 1 << 10)
        static let writable: Command = [.ioSpace, .memorySpace, .busMaster, .interruptDisable]
    }

    var bytes = [UInt8](repeating: 0, count: size)
    var writeMask = [UInt8](repeating: 0, count: size)
    /// The next free byte for capabilities (they live from 0x40 up).
    var nextCapability = 0x40

    public init(vendor: UInt16, device: UInt16, classCode: UInt32, revision: UInt8 = 0,
                subsystemVendor: UInt16 = 0, subsystem: UInt16 = 0) {
        set16(PCIConfigSpace.vendorID, vendor)
        set16(PCIConfigSpace.deviceID, device)
        bytes[PCIConfigSpace.revisionID] = revision
        bytes[PCIConfigSpace.classCode] = UInt8(truncatingIfNeeded: classCode)
        bytes[PCIConfigSpace.classCode + 1] = UInt8(truncatingIfNeeded: classCode >> 8)
        bytes[PCIConfigSpace.classCode + 2] = UInt8(truncatingIfNeeded: classCode >> 16)
        set16(PCIConfigSpace.subsystemVendorID, subsystemVendor)
        set16(PCIConfigSpace.subsystemID, subsystem)
        let cmd = Command.writable.rawValue
        writeMask[PCIConfigSpace.command] = UInt8(truncatingIfNeeded: cmd)
        writeMask[PCIConfigSpace.command + 1] = UInt8(truncatingIfNeeded: cmd >> 8)
        writeMask[PCIConfigSpace.interruptLine] = 0xFF  // scratch for the OS
    }

    public func read8(_ o: Int) -> UInt8 { o < PCIConfigSpace.size ? bytes[o] : 0xFF }
    public func read16(_ o: Int) -> UInt16 { UInt16(read8(o)) | UInt16(read8(o + 1)) << 8 }
    public func read32(_ o: Int) -> UInt32 { UInt32(read16(o)) | UInt32(read16(o + 2)) << 16 }

    public mutating func set16(_ o: Int, _ v: UInt16) {
        bytes[o] = UInt8(truncatingIfNeeded: v)
        bytes[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
    }

    public mutating func set32(_ o: Int, _ v: UInt32) {
        set16(o, UInt16(truncatingIfNeeded: v))
        set16(o + 2, UInt16(truncatingIfNeeded: v >> 16))
    }

    /// A guest write, through the mask.
    mutating func maskedWrite(_ o: Int, size: Int, value: UInt32) {
        for i in 0..<size where o + i < PCIConfigSpace.size {
            let b = UInt8(truncatingIfNeeded: value >> (8 * i))
            let m = writeMask[o + i]
            bytes[o + i] = (bytes[o + i] & ~m) | (b & m)
        }
    }

    public var command: Command { Command(rawValue: read16(PCIConfigSpace.command)) }

    /// Adds a capability (ID, then the device's own bytes after the next
    /// pointer); returns its offset. Links it into the list at 0x34 and sets
    /// the status register's capabilities bit (PCI 3.0 §6.7).
    @discardableResult
    public mutating func addCapability(id: UInt8, body: [UInt8], writable: [UInt8] = []) -> Int? {
        let length = 2 + body.count
        let at = (nextCapability + 3) & ~3
        guard at + length <= PCIConfigSpace.size else { return nil }
        bytes[at] = id
        bytes[at + 1] = 0
        for (i, b) in body.enumerated() { bytes[at + 2 + i] = b }
        for (i, m) in writable.enumerated() where 2 + i < length { writeMask[at + 2 + i] = m }
        // Append to the end of the list.
        var pointer = PCIConfigSpace.capabilitiesPointer
        while bytes[pointer] != 0 { pointer = Int(bytes[pointer]) + 1 }
        bytes[pointer] = UInt8(at)
        bytes[PCIConfigSpace.status] |= 0x10
        nextCapability = at + length
        return at
    }
}
