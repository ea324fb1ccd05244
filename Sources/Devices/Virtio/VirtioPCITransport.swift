import Memory
import Synchronization

/// The virtio-over-PCI transport, modern interface only (virtio 1.2 §4.1):
/// vendor capabilities for the common, notify, ISR and device configuration
/// regions in BAR 4 (64-bit memory, 16 KiB), and an MSI-X table (BAR 1) with
/// per-queue vectors; INTx and the ISR register when MSI-X is off. Feature
/// negotiation requires VIRTIO_F_VERSION_1; the status register follows the
/// §3.1.1 sequence; queues are validated when enabled and at DRIVER_OK, and a
/// bad queue sets DEVICE_NEEDS_RESET instead of reaching the device.
public final class VirtioPCITransport: PCIDeviceModel, @unchecked Sendable {
    // All mutable state is in `state` (Mutex); the device and memory are immutable references.

    // BAR 4 layout.
    static let commonOffset: UInt64 = 0x0000, isrOffset: UInt64 = 0x1000
    public static let deviceOffset: UInt64 = 0x2000, notifyOffset: UInt64 = 0x3000
    public static let notifyMultiplier: UInt32 = 4
    public static let modernBar = 4
    static let msixBar = 1
    static let msixPBAOffset: UInt64 = 0x800
    static let noVector: UInt16 = 0xFFFF

    public let device: any VirtioDevice
    private let memory: GuestMemory
    private let msi: any MSISender
    private let intx: any InterruptLine

    struct Queue {
        var size: UInt16
        var vector: UInt16 = VirtioPCITransport.noVector
        var enabled = false
        var descriptorTable: UInt64 = 0
        var availableRing: UInt64 = 0
        var usedRing: UInt64 = 0
    }

    struct State {
        var deviceFeatureSelect: UInt32 = 0
        var driverFeatureSelect: UInt32 = 0
        var driverFeatures: UInt64 = 0
        var status = VirtioStatus()
        var configGeneration: UInt8 = 0
        var configVector: UInt16 = VirtioPCITransport.noVector
        var queueSelect: UInt16 = 0
        var queues: [Queue]
        var isr: UInt8 = 0
        var msixEnabled = false
        var msixMasked = false
        var msixTable: [UInt8]
        var msixPending: UInt64 = 0
    }

    private let state: Mutex<State>
    /// The PCI command register's bus-master enable: without it the device
    /// must not read or write guest memory (PCI 3.0 §6.2.2).
    private let busMaster = Atomic<Bool>(false)
    /// DRIVER_OK without NEEDS_RESET or FAILED (§2.1.1, §2.1.2): whether the
    /// device may serve its queues. Kept beside `state` so the device can ask
    /// from any thread without its lock (a doorbell can reach the device by
    /// ioeventfd, bypassing the notify-region check).
    private let serving = Atomic<Bool>(false)

    private func updateServing() {
        let st = state.withLock { $0.status }
        serving.store(st.contains(.driverOK) && !st.contains(.needsReset) && !st.contains(.failed), ordering: .releasing)
    }

    public init(device: any VirtioDevice, memory: GuestMemory, msi: any MSISender, intx: any InterruptLine) {
        self.device = device
        self.memory = memory
        self.msi = msi
        self.intx = intx
        let queues = device.queueMaxSizes.map { Queue(size: $0) }
        var table = [UInt8](repeating: 0, count: VirtioPCITransport.msixVectors(queues.count) * 16)
        for v in 0..<VirtioPCITransport.msixVectors(queues.count) { table[v * 16 + 12] = 1 }  // masked at reset
        state = Mutex(State(queues: queues, msixTable: table))
    }

    /// One vector per queue plus one for configuration changes.
    static func msixVectors(_ queues: Int) -> Int { queues + 1 }

    /// The PCI configuration space: vendor 1af4, device 0x1040 + type
    /// (§4.1.2.1), revision 1, the vendor capabilities and MSI-X.
    public func configSpace() -> PCIConfigSpace {
        let classCode: UInt32 = device.deviceType == 2 ? 0x01_8000 : device.deviceType == 1 ? 0x02_0000 : 0xFF_0000
        var c = PCIConfigSpace(vendor: 0x1AF4, device: 0x1040 + device.deviceType, classCode: classCode, revision: 1,
                               subsystemVendor: 0x1AF4, subsystem: 0x1040 + device.deviceType)
        c.set16(PCIConfigSpace.interruptPin, 1)  // INTA# (byte 0x3D; 0x3E is 0)
        func cap(_ type: UInt8, _ offset: UInt64, _ length: UInt32, extra: [UInt8] = []) -> [UInt8] {
            // virtio_pci_cap after vndr/next: cap_len, cfg_type, bar, id, padding[2], offset, length.
            [UInt8(16 + extra.count), type, UInt8(VirtioPCITransport.modernBar), 0, 0, 0]
                + le(UInt32(offset)) + le(length) + extra
        }
        c.addCapability(id: 0x09, body: cap(1, VirtioPCITransport.commonOffset, 0x40))
        c.addCapability(id: 0x09, body: cap(3, VirtioPCITransport.isrOffset, 1))
        c.addCapability(id: 0x09, body: cap(4, VirtioPCITransport.deviceOffset, 0x1000))
        c.addCapability(id: 0x09, body: cap(2, VirtioPCITransport.notifyOffset,
                                            UInt32(device.queueMaxSizes.count) * VirtioPCITransport.notifyMultiplier,
                                            extra: le(VirtioPCITransport.notifyMultiplier)))
        // VIRTIO_PCI_CAP_PCI_CFG (§4.1.4.9): a window onto the BARs through
        // config space, for drivers that cannot map them (16-bit BIOS code).
        // bar, offset and length are the driver's to set; then pci_cfg_data.
        c.addCapability(id: 0x09, body: [20, 5, 0, 0, 0, 0] + le(UInt32(0)) + le(UInt32(0)) + [0, 0, 0, 0],
                        writable: [0, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        // MSI-X (PCI 3.0 §6.8.2): control = table size - 1; table at BAR 1 + 0, PBA at BAR 1 + 0x800.
        let vectors = VirtioPCITransport.msixVectors(device.queueMaxSizes.count)
        c.addCapability(id: 0x11, body: le(UInt16(vectors - 1)) + le(UInt32(VirtioPCITransport.msixBar))
                            + le(UInt32(VirtioPCITransport.msixPBAOffset) | UInt32(VirtioPCITransport.msixBar)),
                        writable: [0x00, 0xC0])
        return c
    }

    private func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    public var bars: [Int: (kind: PCIBarKind, size: UInt64)] {
        [VirtioPCITransport.msixBar: (.memory32(prefetchable: false), 0x1000),
         VirtioPCITransport.modernBar: (.memory64(prefetchable: true), 0x4000)]
    }

    /// The PCI_CFG capability's offset in config space, if present.
    static func pciConfigWindow(_ config: PCIConfigSpace) -> Int? {
        var p = Int(config.read8(PCIConfigSpace.capabilitiesPointer))
        while p != 0 {
            if config.read8(p) == 0x09 && config.read8(p + 3) == 5 { return p }
            p = Int(config.read8(p + 1))
        }
        return nil
    }

    /// The BAR access a PCI_CFG window describes: (bar, offset, length), if
    /// the driver set a valid one (length 1, 2 or 4, inside the BAR).
    private func windowTarget(_ config: PCIConfigSpace, _ cap: Int) -> (Int, UInt64, Int)? {
        let bar = Int(config.read8(cap + 4))
        let offset = UInt64(config.read32(cap + 8))
        let length = Int(config.read32(cap + 12))
        guard [1, 2, 4].contains(length), let size = bars[bar]?.size, offset + UInt64(length) <= size else { return nil }
        return (bar, offset, length)
    }

    public func configRead(_ config: PCIConfigSpace, offset: Int, size: Int) -> UInt32? {
        guard let cap = VirtioPCITransport.pciConfigWindow(config), offset >= cap + 16, offset < cap + 20 else { return nil }
        guard let (bar, at, length) = windowTarget(config, cap) else { return 0 }
        let v = UInt32(truncatingIfNeeded: barRead(bar, offset: at, size: length))
        return v >> (UInt32(offset - cap - 16) * 8)
    }

    /// MSI-X enable and function mask live in the capability's control word;
    /// a write to the PCI_CFG window's data goes to the BAR it points at.
    public func configWritten(_ config: PCIConfigSpace, offset: Int, size: Int) {
        if offset < PCIConfigSpace.command + 2 && offset + size > PCIConfigSpace.command {
            busMaster.store(config.command.contains(.busMaster), ordering: .releasing)
        }
        if let cap = VirtioPCITransport.pciConfigWindow(config), offset >= cap + 16, offset < cap + 20 {
            if let (bar, at, length) = windowTarget(config, cap) {
                barWrite(bar, offset: at, size: length, value: UInt64(config.read32(cap + 16)))
            }
            return
        }
        var p = Int(config.read8(PCIConfigSpace.capabilitiesPointer))
        while p != 0 {
            if config.read8(p) == 0x11 {
                let control = config.read16(p + 2)
                state.withLock { s in
                    s.msixEnabled = control & 0x8000 != 0
                    s.msixMasked = control & 0x4000 != 0
                }
                deliverPending()
                return
            }
            p = Int(config.read8(p + 1))
        }
    }

    // MARK: BAR accesses

    public func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 {
        if bar == VirtioPCITransport.msixBar { return msixRead(offset: offset, size: size) }
        switch offset {
        case 0..<VirtioPCITransport.isrOffset: return commonRead(Int(offset), size: size)
        case VirtioPCITransport.isrOffset:
            // Reading the ISR clears it and lowers INTx (§4.1.4.5).
            let isr = state.withLock { s in
                defer { s.isr = 0 }
                return s.isr
            }
            intx.setLevel(false)
            return UInt64(isr)
        case VirtioPCITransport.deviceOffset..<VirtioPCITransport.notifyOffset:
            return device.configRead(offset: Int(offset - VirtioPCITransport.deviceOffset), size: size)
        default: return 0
        }
    }

    public func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        if bar == VirtioPCITransport.msixBar { return msixWrite(offset: offset, size: size, value: value) }
        switch offset {
        case 0..<VirtioPCITransport.isrOffset: commonWrite(Int(offset), size: size, value: value)
        case VirtioPCITransport.deviceOffset..<VirtioPCITransport.notifyOffset:
            device.configWrite(offset: Int(offset - VirtioPCITransport.deviceOffset), size: size, value: value)
        case VirtioPCITransport.notifyOffset...:
            let index = Int((offset - VirtioPCITransport.notifyOffset) / UInt64(VirtioPCITransport.notifyMultiplier))
            let live = state.withLock { s in
                s.status.contains(.driverOK) && !s.status.contains(.needsReset) && index < s.queues.count
                    && s.queues[index].enabled
            }
            if live { device.queueNotified(index) }
        default: break
        }
    }

    // MARK: common configuration (§4.1.4.3)

    private func commonRead(_ o: Int, size: Int) -> UInt64 {
        state.withLock { s in
            let q = Int(s.queueSelect) < s.queues.count ? s.queues[Int(s.queueSelect)] : nil
            switch o {
            case 0x00: return UInt64(s.deviceFeatureSelect)
            case 0x04:
                return s.deviceFeatureSelect < 2 ? (device.offeredFeatures >> (32 * UInt64(s.deviceFeatureSelect))) & 0xFFFF_FFFF : 0
            case 0x08: return UInt64(s.driverFeatureSelect)
            case 0x0C:
                return s.driverFeatureSelect < 2 ? (s.driverFeatures >> (32 * UInt64(s.driverFeatureSelect))) & 0xFFFF_FFFF : 0
            case 0x10: return UInt64(s.configVector)
            case 0x12: return UInt64(s.queues.count)
            case 0x14: return UInt64(s.status.rawValue)
            case 0x15: return UInt64(s.configGeneration)
            case 0x16: return UInt64(s.queueSelect)
            case 0x18: return UInt64(q?.size ?? 0)
            case 0x1A: return UInt64(q?.vector ?? VirtioPCITransport.noVector)
            case 0x1C: return q?.enabled == true ? 1 : 0
            case 0x1E: return UInt64(s.queueSelect)  // queue_notify_off = index
            case 0x20: return lowHigh(q?.descriptorTable ?? 0, size: size, high: false)
            case 0x24: return lowHigh(q?.descriptorTable ?? 0, size: size, high: true)
            case 0x28: return lowHigh(q?.availableRing ?? 0, size: size, high: false)
            case 0x2C: return lowHigh(q?.availableRing ?? 0, size: size, high: true)
            case 0x30: return lowHigh(q?.usedRing ?? 0, size: size, high: false)
            case 0x34: return lowHigh(q?.usedRing ?? 0, size: size, high: true)
            default: return 0
            }
        }
    }

    private func lowHigh(_ v: UInt64, size: Int, high: Bool) -> UInt64 {
        high ? v >> 32 : (size == 8 ? v : v & 0xFFFF_FFFF)
    }

    private func commonWrite(_ o: Int, size: Int, value: UInt64) {
        var activate: [SplitVirtqueue]?
        var doReset = false
        var configInterrupt = false
        state.withLock { s in
            let qi = Int(s.queueSelect)
            let hasQueue = qi < s.queues.count
            // Queue fields may change only before DRIVER_OK (§4.1.4.3.2).
            let queueWritable = hasQueue && !s.status.contains(.driverOK)
            switch o {
            case 0x00: s.deviceFeatureSelect = UInt32(truncatingIfNeeded: value)
            case 0x08: s.driverFeatureSelect = UInt32(truncatingIfNeeded: value)
            case 0x0C:
                guard !s.status.contains(.featuresOK), s.driverFeatureSelect < 2 else { break }
                let shift = 32 * UInt64(s.driverFeatureSelect)
                s.driverFeatures = (s.driverFeatures & ~(0xFFFF_FFFF << shift)) | ((value & 0xFFFF_FFFF) << shift)
            case 0x10: s.configVector = UInt16(truncatingIfNeeded: value)
            case 0x14:
                let new = VirtioStatus(rawValue: UInt8(truncatingIfNeeded: value))
                if new.rawValue == 0 {
                    doReset = true
                    return
                }
                if new.contains(.featuresOK) && !s.status.contains(.featuresOK) {
                    // Accept only a subset of what we offer, with VERSION_1 (§3.1.1 step 5).
                    let ok = s.driverFeatures & ~device.offeredFeatures == 0
                        && s.driverFeatures & VirtioFeature.version1 != 0
                        && device.acceptsFeatures(s.driverFeatures)
                    s.status = ok ? new : new.subtracting(.featuresOK)
                    return
                }
                if new.contains(.driverOK) && !s.status.contains(.driverOK) {
                    guard s.status.contains(.featuresOK) else {
                        s.status = new.subtracting(.driverOK).union(.needsReset)
                        configInterrupt = true
                        return
                    }
                    switch buildQueues(s) {
                    case .success(let queues):
                        activate = queues
                        s.status = new
                    case .failure(let error):
                        Log.warning("virtio-\(device.deviceType): \(error); device needs reset")
                        s.status = new.union(.needsReset)
                        configInterrupt = true
                    }
                    return
                }
                s.status = new.union(s.status.intersection(.needsReset))
            case 0x16: s.queueSelect = UInt16(truncatingIfNeeded: value)
            case 0x18 where queueWritable:
                s.queues[qi].size = UInt16(truncatingIfNeeded: value)
            case 0x1A where hasQueue: s.queues[qi].vector = UInt16(truncatingIfNeeded: value)
            case 0x1C where queueWritable: s.queues[qi].enabled = value & 1 == 1
            case 0x20 where queueWritable: set(&s.queues[qi].descriptorTable, value, size: size, high: false)
            case 0x24 where queueWritable: set(&s.queues[qi].descriptorTable, value, size: size, high: true)
            case 0x28 where queueWritable: set(&s.queues[qi].availableRing, value, size: size, high: false)
            case 0x2C where queueWritable: set(&s.queues[qi].availableRing, value, size: size, high: true)
            case 0x30 where queueWritable: set(&s.queues[qi].usedRing, value, size: size, high: false)
            case 0x34 where queueWritable: set(&s.queues[qi].usedRing, value, size: size, high: true)
            default: break
            }
        }
        updateServing()
        if doReset { reset() }
        if let activate {
            let features = state.withLock { $0.driverFeatures }
            device.activate(queues: activate, features: features, memory: memory, interrupt: Interrupts(transport: self))
        }
        if configInterrupt { raise(vectorFor: nil, isrBit: 2) }
    }

    private func set(_ field: inout UInt64, _ value: UInt64, size: Int, high: Bool) {
        if size == 8 { field = value; return }
        let v = value & 0xFFFF_FFFF
        field = high ? (field & 0xFFFF_FFFF) | v << 32 : (field & ~0xFFFF_FFFF) | v
    }

    /// Every enabled queue, validated against the driver's layout.
    private func buildQueues(_ s: State) -> Result<[SplitVirtqueue], VirtqueueError> {
        Result { () throws(VirtqueueError) in
            var out: [SplitVirtqueue] = []
            for (i, q) in s.queues.enumerated() where q.enabled {
                out.append(try SplitVirtqueue(
                    layout: VirtqueueLayout(size: q.size, descriptorTable: GuestAddress(q.descriptorTable),
                                            availableRing: GuestAddress(q.availableRing), usedRing: GuestAddress(q.usedRing)),
                    maximumSize: device.queueMaxSizes[i], memory: memory,
                    indirectDescriptors: s.driverFeatures & VirtioFeature.indirectDescriptors != 0,
                    eventIndex: s.driverFeatures & VirtioFeature.eventIndex != 0))
            }
            return out
        }
    }

    /// Device reset: status 0, features and queues forgotten, MSI-X masks
    /// kept (they belong to PCI), the device told.
    public func reset() {
        state.withLock { s in
            s.status = []
            s.driverFeatures = 0
            s.driverFeatureSelect = 0
            s.deviceFeatureSelect = 0
            s.configVector = VirtioPCITransport.noVector
            s.queueSelect = 0
            s.isr = 0
            s.queues = device.queueMaxSizes.map { Queue(size: $0) }
            s.configGeneration &+= 1
        }
        serving.store(false, ordering: .releasing)
        intx.setLevel(false)
        device.reset()
    }

    public var status: VirtioStatus { state.withLock { $0.status } }

    /// The device hit a guest error on a live queue: NEEDS_RESET and a
    /// configuration interrupt (§2.1.2).
    public func markNeedsReset() {
        state.withLock { _ = $0.status.insert(.needsReset) }
        serving.store(false, ordering: .releasing)
        raise(vectorFor: nil, isrBit: 2)
    }

    // MARK: interrupts

    struct Interrupts: VirtioInterrupt {
        let transport: VirtioPCITransport
        func notifyQueue(_ index: Int) { transport.raise(vectorFor: index, isrBit: 1) }
        func notifyConfigChange() { transport.raise(vectorFor: nil, isrBit: 2) }
        /// Bus mastering on, and the device live (not NEEDS_RESET or FAILED).
        var mayAccessMemory: Bool {
            transport.busMaster.load(ordering: .acquiring) && transport.serving.load(ordering: .acquiring)
        }
    }

    /// MSI-X when enabled (the queue's or the config vector; none assigned
    /// means no interrupt), else the ISR bit and INTx.
    func raise(vectorFor queue: Int?, isrBit: UInt8) {
        enum Action { case none, intx, msi(UInt64, UInt32) }
        let action: Action = state.withLock { s in
            guard s.msixEnabled else {
                s.isr |= isrBit
                return .intx
            }
            let vector = queue.map { $0 < s.queues.count ? s.queues[$0].vector : VirtioPCITransport.noVector } ?? s.configVector
            guard Int(vector) < VirtioPCITransport.msixVectors(s.queues.count) else { return .none }
            let e = Int(vector) * 16
            let masked = s.msixMasked || s.msixTable[e + 12] & 1 != 0
            if masked {
                s.msixPending |= 1 << UInt64(vector)
                return .none
            }
            return .msi(tableAddress(s, e), tableData(s, e))
        }
        switch action {
        case .none: break
        case .intx: intx.setLevel(true)
        case let .msi(address, data): msi.send(address: address, data: data)
        }
    }

    private func tableAddress(_ s: State, _ e: Int) -> UInt64 {
        (0..<8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(s.msixTable[e + $1]) }
    }

    private func tableData(_ s: State, _ e: Int) -> UInt32 {
        (0..<4).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32(s.msixTable[e + 8 + $1]) }
    }

    // MARK: MSI-X table and PBA (PCI 3.0 §6.8.2)

    private func msixRead(offset: UInt64, size: Int) -> UInt64 {
        state.withLock { s in
            if offset >= VirtioPCITransport.msixPBAOffset {
                let shift = (offset - VirtioPCITransport.msixPBAOffset) * 8
                return shift < 64 ? s.msixPending >> shift : 0
            }
            let o = Int(offset)
            guard o + size <= s.msixTable.count else { return 0 }
            return (0..<size).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(s.msixTable[o + $1]) }
        }
    }

    private func msixWrite(offset: UInt64, size: Int, value: UInt64) {
        guard offset < VirtioPCITransport.msixPBAOffset else { return }  // the PBA is read-only
        state.withLock { s in
            let o = Int(offset)
            guard o + size <= s.msixTable.count else { return }
            for i in 0..<size { s.msixTable[o + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        }
        deliverPending()
    }

    /// Sends pending vectors whose masks were lifted.
    private func deliverPending() {
        let toSend: [(UInt64, UInt32)] = state.withLock { s in
            guard s.msixEnabled, !s.msixMasked else { return [] }
            var out: [(UInt64, UInt32)] = []
            for v in 0..<VirtioPCITransport.msixVectors(s.queues.count) where s.msixPending & (1 << UInt64(v)) != 0 {
                let e = v * 16
                if s.msixTable[e + 12] & 1 == 0 {
                    s.msixPending &= ~(1 << UInt64(v))
                    out.append((tableAddress(s, e), tableData(s, e)))
                }
            }
            return out
        }
        for (a, d) in toSend { msi.send(address: a, data: d) }
    }
}
