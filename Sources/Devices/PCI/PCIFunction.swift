import Memory
import Synchronization

/// A BAR's kind (PCI 3.0 §6.2.5.1): the low bits the guest reads back.
public enum PCIBarKind: Sendable, Equatable {
    case io
    case memory32(prefetchable: Bool)
    case memory64(prefetchable: Bool)

    var typeBits: UInt32 {
        switch self {
        case .io: 0x1
        case .memory32(let p): p ? 0x8 : 0x0
        case .memory64(let p): (p ? 0x8 : 0x0) | 0x4
        }
    }
}

/// What a PCI device model implements: its BARs and their register
/// accesses, and (optionally) extra config space behaviour. The bus does the
/// generic parts: config space, BAR sizing and moves, decode enables.
public protocol PCIDeviceModel: AnyObject, Sendable {
    /// BAR index -> (kind, size in bytes, a power of two: >= 16 for
    /// memory, >= 4 for I/O). Fixed for the device's life.
    var bars: [Int: (kind: PCIBarKind, size: UInt64)] { get }
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64)
    /// After a guest config write (e.g. an MSI-X capability's control word).
    func configWritten(_ config: PCIConfigSpace, offset: Int, size: Int)
    /// A config read the model answers itself (e.g. a window onto a BAR);
    /// nil reads the stored bytes.
    func configRead(_ config: PCIConfigSpace, offset: Int, size: Int) -> UInt32?
}

extension PCIDeviceModel {
    public func configWritten(_ config: PCIConfigSpace, offset: Int, size: Int) {}
    public func configRead(_ config: PCIConfigSpace, offset: Int, size: Int) -> UInt32? { nil }
}

/// One PCI function on the bus: config space + the model, with BAR
/// sizing (write all-ones, read back the size mask), 32- and 64-bit memory
/// BARs, I/O BARs, and the command register's decode enables. Whenever a
/// BAR's decoded address changes, the function moves its window on the
/// port or MMIO bus (unregister the old, register the new).
public final class PCIFunction: Sendable {
    public let name: String
    public let model: any PCIDeviceModel
    private let state: Mutex<PCIConfigSpace>
    private let ports: PortIOBus
    private let mmio: MMIOBus
    /// Where each BAR is mapped now (bus base), if decoding.
    private let mapped = Mutex<[Int: UInt64]>([:])
    /// Told when a BAR moves (old base, new base; nil = unmapped), e.g. to
    /// move a KVM ioeventfd with it.
    private let onBarMoved: (@Sendable (_ bar: Int, _ old: UInt64?, _ new: UInt64?) -> Void)?

    public init(name: String, config: PCIConfigSpace, model: any PCIDeviceModel, ports: PortIOBus, mmio: MMIOBus,
                onBarMoved: (@Sendable (_ bar: Int, _ old: UInt64?, _ new: UInt64?) -> Void)? = nil) {
        self.name = name
        self.model = model
        self.ports = ports
        self.mmio = mmio
        self.onBarMoved = onBarMoved
        var c = config
        for (i, bar) in model.bars {
            c.set32(PCIConfigSpace.bar0 + 4 * i, bar.kind.typeBits)
        }
        state = Mutex(c)
    }

    public var config: PCIConfigSpace { state.withLock { $0 } }

    public func configRead(offset: Int, size: Int) -> UInt32 {
        let snapshot = state.withLock { $0 }
        if let v = model.configRead(snapshot, offset: offset, size: size) { return v }
        return state.withLock { c in
            switch size {
            case 1: UInt32(c.read8(offset))
            case 2: UInt32(c.read16(offset))
            default: c.read32(offset)
            }
        }
    }

    public func configWrite(offset: Int, size: Int, value: UInt32) {
        let snapshot: PCIConfigSpace = state.withLock { c in
            if offset >= PCIConfigSpace.bar0 && offset < PCIConfigSpace.bar0 + 24 {
                writeBARs(&c, offset: offset, size: size, value: value)
            } else {
                c.maskedWrite(offset, size: size, value: value)
            }
            return c
        }
        if offset < 0x40 { remap(snapshot) }
        model.configWritten(snapshot, offset: offset, size: size)
    }

    /// BAR registers: the address bits above the size are writable, the type
    /// bits are fixed, bits of an unimplemented BAR read 0. A 64-bit BAR's
    /// upper half (the next register) is all address bits.
    private func writeBARs(_ c: inout PCIConfigSpace, offset: Int, size: Int, value: UInt32) {
        // Merge the partial write into the dword, then apply per BAR.
        let dwordOffset = offset & ~3
        var dword = c.read32(dwordOffset)
        for i in 0..<size {
            let shift = UInt32((offset - dwordOffset + i) * 8)
            dword = (dword & ~(0xFF << shift)) | ((value >> (UInt32(i) * 8)) & 0xFF) << shift
        }
        let index = (dwordOffset - PCIConfigSpace.bar0) / 4
        if let bar = model.bars[index] {
            let lowMask = bar.kind == .io ? UInt32(0x3) : UInt32(0xF)
            let sizeMask = ~UInt32(truncatingIfNeeded: bar.size - 1)
            c.set32(dwordOffset, (dword & sizeMask & ~lowMask) | bar.kind.typeBits)
        } else if index > 0, let lower = model.bars[index - 1], case .memory64 = lower.kind {
            let sizeHigh = UInt32(truncatingIfNeeded: (bar64SizeMask(lower.size)) >> 32)
            c.set32(dwordOffset, dword & sizeHigh)
        } else {
            c.set32(dwordOffset, 0)
        }
    }

    private func bar64SizeMask(_ size: UInt64) -> UInt64 { ~(size - 1) }

    /// The address BAR `i` decodes at, or nil (disabled, unassigned, or
    /// outside what a bus can hold).
    static func decodedAddress(_ c: PCIConfigSpace, bar i: Int, kind: PCIBarKind, size: UInt64) -> UInt64? {
        let raw = c.read32(PCIConfigSpace.bar0 + 4 * i)
        switch kind {
        case .io:
            guard c.command.contains(.ioSpace) else { return nil }
            let a = UInt64(raw & ~0x3)
            return a != 0 && a + size <= 0x10000 ? a : nil
        case .memory32:
            guard c.command.contains(.memorySpace) else { return nil }
            let a = UInt64(raw & ~0xF)
            return a != 0 ? a : nil
        case .memory64:
            guard c.command.contains(.memorySpace) else { return nil }
            let a = UInt64(raw & ~0xF) | UInt64(c.read32(PCIConfigSpace.bar0 + 4 * i + 4)) << 32
            let (end, overflow) = a.addingReportingOverflow(size)
            return a != 0 && !overflow && end != 0 ? a : nil
        }
    }

    /// Moves BAR windows to where the config space now says they are.
    private func remap(_ c: PCIConfigSpace) {
        var moves: [(Int, UInt64?, UInt64?)] = []
        defer { for m in moves { onBarMoved?(m.0, m.1, m.2) } }
        mapped.withLock { current in
            for (i, bar) in model.bars {
                let want = PCIFunction.decodedAddress(c, bar: i, kind: bar.kind, size: bar.size)
                guard want != current[i] else { continue }
                let before = current[i]
                defer { if current[i] != before { moves.append((i, before, current[i])) } }
                if let old = current[i] {
                    if bar.kind == .io { ports.bus.unregister(base: old) } else { mmio.bus.unregister(base: old) }
                    current[i] = nil
                }
                guard let base = want else { continue }
                let window = PCIBarWindow(model: model, bar: i)
                do {
                    if bar.kind == .io {
                        try ports.register(window, name: "\(name) BAR\(i)", base: UInt16(base), length: UInt16(bar.size))
                    } else {
                        try mmio.register(window, name: "\(name) BAR\(i)", base: base, length: bar.size)
                    }
                    current[i] = base
                } catch {
                    // The guest placed the BAR over something else: it stays
                    // unmapped (accesses read all-ones), as on real hardware
                    // where the decode would conflict.
                    Log.warning("\(name) BAR\(i) at 0x\(String(base, radix: 16)): \(error)")
                }
            }
        }
    }

    /// Where BAR `i` is mapped now (tests, diagnostics).
    public func mappedAddress(bar i: Int) -> UInt64? { mapped.withLock { $0[i] } }
}

/// A BAR's window on a bus: forwards offsets to the device model.
final class PCIBarWindow: PortIODevice, MMIODevice {
    let model: any PCIDeviceModel
    let bar: Int

    init(model: any PCIDeviceModel, bar: Int) {
        self.model = model
        self.bar = bar
    }

    func ioRead(offset: UInt16, size: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: model.barRead(bar, offset: UInt64(offset), size: size))
    }
    func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        model.barWrite(bar, offset: UInt64(offset), size: size, value: UInt64(value))
    }
    func mmioRead(offset: UInt64, size: Int) -> UInt64 { model.barRead(bar, offset: offset, size: size) }
    func mmioWrite(offset: UInt64, size: Int, value: UInt64) {
        model.barWrite(bar, offset: offset, size: size, value: value)
    }
}
