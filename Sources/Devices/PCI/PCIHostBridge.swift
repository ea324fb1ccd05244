import Memory
import Synchronization

/// PCI bus 0 behind configuration mechanism #1 (PCI 3.0 §3.2.2.3.2):
/// CONFIG_ADDRESS at 0xCF8 (dword; bit 31 enable, bus, device, function,
/// register) and CONFIG_DATA at 0xCFC-0xCFF (byte, word or dword). Slot 0 is
/// an i440FX-compatible host bridge (8086:1237, subsystem 1af4:1100 as on
/// QEMU's pc machine, so PC firmware treats us like it); devices take the
/// other slots, function 0 only. Absent functions read all-ones. A byte at
/// 0xCF9 is the PIIX reset control register.
public final class PCIHostBridge: PortIODevice {
    public static let configAddressPort: UInt16 = 0xCF8
    public static let portCount: UInt16 = 8

    /// The PIIX reset control register (PIIX3 datasheet §4.1.17, RC): a
    /// byte at 0xCF9 inside the config-address dword. Writing it with
    /// RST_CPU (bit 2) set resets the machine; the FADT's RESET_REG points here.
    public static let resetControlPort: UInt16 = 0xCF9
    public static let resetCPU: UInt32 = 1 << 2

    private let address = Atomic<UInt32>(0)
    private let slots = Mutex<[PCIFunction?]>([PCIFunction?](repeating: nil, count: 32))
    private let onReset: @Sendable () -> Void

    public init(ports: PortIOBus, mmio: MMIOBus, onReset: @escaping @Sendable () -> Void = {}) {
        self.onReset = onReset
        let config = PCIConfigSpace(vendor: 0x8086, device: 0x1237, classCode: 0x06_0000, revision: 2,
                                    subsystemVendor: 0x1AF4, subsystem: 0x1100)
        let bridge = PCIFunction(name: "host bridge", config: config, model: NoBARs(), ports: ports, mmio: mmio)
        slots.withLock { $0[0] = bridge }
    }

    /// Plugs `function` into the first free slot; returns it, or nil when full.
    @discardableResult
    public func plug(_ function: PCIFunction) -> Int? {
        slots.withLock { s in
            guard let free = s.firstIndex(where: { $0 == nil }) else { return nil }
            s[free] = function
            return free
        }
    }

    /// The first free slot, where the next `plug` puts a function (the
    /// machine needs it first: a slot's INTx line depends on it).
    public var firstFreeSlot: Int? { slots.withLock { $0.firstIndex(where: { $0 == nil }) } }

    public func function(slot: Int) -> PCIFunction? { slots.withLock { $0[slot] } }

    /// The function CONFIG_ADDRESS selects and the register offset, if any.
    private func selected(extra: Int) -> (PCIFunction, Int)? {
        let a = address.load(ordering: .relaxed)
        guard a & 0x8000_0000 != 0 else { return nil }
        let bus = (a >> 16) & 0xFF, device = Int((a >> 11) & 0x1F), function = (a >> 8) & 0x7
        guard bus == 0, function == 0, let f = slots.withLock({ $0[device] }) else { return nil }
        return (f, Int(a & 0xFC) + extra)
    }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        if offset < 4 {
            return offset == 0 && size == 4 ? address.load(ordering: .relaxed) : 0xFFFF_FFFF
        }
        let extra = Int(offset) - 4
        guard extra + size <= 4, let (f, reg) = selected(extra: extra) else {
            return size >= 4 ? 0xFFFF_FFFF : (1 << (UInt32(size) * 8)) - 1
        }
        return f.configRead(offset: reg, size: size)
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        if offset < 4 {
            // Only a dword write to 0xCF8 is CONFIG_ADDRESS; a byte write to
            // 0xCF9 is the reset control register.
            if offset == 0 && size == 4 { address.store(value & 0x80FF_FFFC, ordering: .relaxed) }
            if offset == 1 && size == 1 && value & Self.resetCPU != 0 { onReset() }
            return
        }
        let extra = Int(offset) - 4
        guard extra + size <= 4, let (f, reg) = selected(extra: extra) else { return }
        f.configWrite(offset: reg, size: size, value: value)
    }

    /// A function with no BARs (the host bridge itself).
    final class NoBARs: PCIDeviceModel {
        var bars: [Int: (kind: PCIBarKind, size: UInt64)] { [:] }
        func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { 0 }
        func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {}
    }
}
