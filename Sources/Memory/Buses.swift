import Synchronization

/// A device on the port-I/O bus. `offset` is relative to the device's base
/// port; `size` is 1, 2 or 4. Reads return the value in the low `size` bytes.
public protocol PortIODevice: AnyObject, Sendable {
    func ioRead(offset: UInt16, size: Int) -> UInt32
    func ioWrite(offset: UInt16, size: Int, value: UInt32)
}

/// A device on the MMIO bus. `size` is 1, 2, 4 or 8.
public protocol MMIODevice: AnyObject, Sendable {
    func mmioRead(offset: UInt64, size: Int) -> UInt64
    func mmioWrite(offset: UInt64, size: Int, value: UInt64)
}

/// The x86 I/O port space (64 KiB). An access to a port no device claims
/// reads all-ones and drops writes, like an ISA bus with nothing on it; such
/// accesses are counted and logged at debug level.
public final class PortIOBus: Sendable {
    public let bus = AddressBus<any PortIODevice>()
    private let unclaimed = Atomic<UInt64>(0)

    public init() {}

    public func register(_ device: any PortIODevice, name: String, base: UInt16, length: UInt16) throws(BusError) {
        guard UInt32(base) + UInt32(length) <= 0x10000 else {
            throw .rangeOverflows(name: name, base: UInt64(base), length: UInt64(length))
        }
        try bus.register(device, name: name, base: UInt64(base), length: UInt64(length))
    }

    /// Number of accesses that reached no device.
    public var unclaimedAccesses: UInt64 { unclaimed.load(ordering: .relaxed) }

    @inline(__always)
    public func read(port: UInt16, size: Int) -> UInt32 {
        if let value = bus.withDevice(at: UInt64(port), { $0.ioRead(offset: UInt16(truncatingIfNeeded: $1), size: size) }) {
            return value
        }
        unclaimed.wrappingAdd(1, ordering: .relaxed)
        if Log.isDebug { Log.debug("port read from unclaimed port 0x\(hex(UInt64(port))) (\(size) bytes)") }
        return size >= 4 ? 0xFFFF_FFFF : (1 << (UInt32(size) * 8)) - 1
    }

    @inline(__always)
    public func write(port: UInt16, size: Int, value: UInt32) {
        if bus.withDevice(at: UInt64(port), { $0.ioWrite(offset: UInt16(truncatingIfNeeded: $1), size: size, value: value) }) != nil {
            return
        }
        unclaimed.wrappingAdd(1, ordering: .relaxed)
        if Log.isDebug { Log.debug("port write 0x\(hex(UInt64(value))) to unclaimed port 0x\(hex(UInt64(port)))") }
    }
}

/// Guest-physical MMIO space outside RAM; same rules as `PortIOBus`.
public final class MMIOBus: Sendable {
    public let bus = AddressBus<any MMIODevice>()
    private let unclaimed = Atomic<UInt64>(0)

    public init() {}

    public func register(_ device: any MMIODevice, name: String, base: UInt64, length: UInt64) throws(BusError) {
        try bus.register(device, name: name, base: base, length: length)
    }

    public var unclaimedAccesses: UInt64 { unclaimed.load(ordering: .relaxed) }

    @inline(__always)
    public func read(address: UInt64, size: Int) -> UInt64 {
        if let value = bus.withDevice(at: address, { $0.mmioRead(offset: $1, size: size) }) {
            return value
        }
        unclaimed.wrappingAdd(1, ordering: .relaxed)
        if Log.isDebug { Log.debug("MMIO read from unclaimed address 0x\(hex(address)) (\(size) bytes)") }
        return size >= 8 ? UInt64.max : (1 << (UInt64(size) * 8)) - 1
    }

    @inline(__always)
    public func write(address: UInt64, size: Int, value: UInt64) {
        if bus.withDevice(at: address, { $0.mmioWrite(offset: $1, size: size, value: value) }) != nil {
            return
        }
        unclaimed.wrappingAdd(1, ordering: .relaxed)
        if Log.isDebug { Log.debug("MMIO write 0x\(hex(value)) to unclaimed address 0x\(hex(address))") }
    }
}

/// Puts one device at a second place on the port bus, with its offsets
/// shifted: e.g. the i8042 answers at 0x60 (offset 0) and 0x64 (offset 4)
/// while 0x61-0x63 belong to others.
public final class PortAlias: PortIODevice {
    private let target: any PortIODevice
    private let offset: UInt16

    public init(_ target: any PortIODevice, offset: UInt16) {
        self.target = target
        self.offset = offset
    }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        target.ioRead(offset: offset &+ self.offset, size: size)
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        target.ioWrite(offset: offset &+ self.offset, size: size, value: value)
    }
}
