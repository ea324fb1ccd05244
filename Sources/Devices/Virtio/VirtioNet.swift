import Memory
import Synchronization

/// virtio-net (virtio 1.2 §5.1) over a `NetBackend`: one receive queue (0)
/// and one transmit queue (1), the 12-byte virtio_net_hdr_v1 passed through
/// to the backend, checksum and segmentation offloads when negotiated, MAC,
/// link status and MTU in configuration space.
///
/// Guest input is checked before it reaches the host: a TX chain larger than
/// header + 64 KiB + Ethernet header, shorter than the header, or whose
/// header asks for an offload that was not negotiated is dropped and
/// counted; an RX chain too small for the header (or, without MRG_RXBUF,
/// for the frame) gets the frame dropped and is returned unused. A broken
/// queue sets NEEDS_RESET through `onQueueError`.
///
/// `processReceive` and `processTransmit` run on one thread (the device's
/// I/O thread), each holding `active` (a Mutex) for its batch; activation
/// and reset come from a vCPU thread and wait for the batch to end.
public final class VirtioNet: VirtioDevice, @unchecked Sendable {
    /// struct virtio_net_hdr_v1 (§5.1.6): flags, gso_type, hdr_len,
    /// gso_size, csum_start, csum_offset, num_buffers.
    public static let headerSize = 12
    /// The largest frame either way: a 64 KiB TSO frame plus its Ethernet header.
    public static let maximumFrame = 65536 + 14
    public static let maximumPacket = headerSize + maximumFrame
    static let queueSize: UInt16 = 256
    public static let receiveQueue = 0, transmitQueue = 1
    /// Frames handled per call before returning to the event loop, so RX
    /// and TX take turns under load.
    static let batch = 256

    /// Feature bits (§5.1.3).
    public enum Feature {
        public static let checksum: UInt64 = 1 << 0
        public static let guestChecksum: UInt64 = 1 << 1
        public static let mtu: UInt64 = 1 << 3
        public static let mac: UInt64 = 1 << 5
        public static let guestTSO4: UInt64 = 1 << 7
        public static let guestTSO6: UInt64 = 1 << 8
        public static let hostTSO4: UInt64 = 1 << 11
        public static let hostTSO6: UInt64 = 1 << 12
        public static let mergeableRXBuffers: UInt64 = 1 << 15
        public static let status: UInt64 = 1 << 16
    }

    // Header fields (§5.1.6).
    static let flagNeedsChecksum: UInt8 = 1
    static let gsoNone: UInt8 = 0, gsoTCPv4: UInt8 = 1, gsoTCPv6: UInt8 = 4

    public let backend: any NetBackend
    public let mac: [UInt8]

    struct Active {
        /// The VM is stopped (QMP stop, a held failure): nothing moves, as
        /// QEMU stops its devices with the VM. Kept across device resets.
        var paused = false
        var receive: SplitVirtqueue?
        var transmit: SplitVirtqueue?
        var memory: GuestMemory?
        var interrupt: (any VirtioInterrupt)?
        var features: UInt64 = 0
    }

    private let active = Mutex(Active())
    private let onQueueError: @Sendable (VirtqueueError) -> Void
    /// Asks the I/O thread to service queue `index` (a doorbell, or the
    /// driver becoming ready); processing never runs on the vCPU thread.
    private let wake: @Sendable (Int) -> Void

    // Touched only inside a batch, with `active` locked (hence
    // @unchecked Sendable): bounce buffers allocated once, and a frame read
    // from the backend that waits for guest buffers (at most one: the
    // backend is not read again until it is placed).
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let transmitBuffer: UnsafeMutableRawBufferPointer
    private var pendingLength = 0
    private var taken: [DescriptorChain] = []

    // Counters (any thread reads them).
    public let receivedFrames = Atomic<UInt64>(0)
    public let receivedBytes = Atomic<UInt64>(0)
    public let receiveDropped = Atomic<UInt64>(0)
    public let transmittedFrames = Atomic<UInt64>(0)
    public let transmittedBytes = Atomic<UInt64>(0)
    public let transmitDropped = Atomic<UInt64>(0)

    public init(backend: any NetBackend, mac: [UInt8],
                onQueueError: @escaping @Sendable (VirtqueueError) -> Void = { _ in },
                wake: @escaping @Sendable (Int) -> Void) {
        precondition(mac.count == 6, "a MAC address has 6 bytes")
        self.backend = backend
        self.mac = mac
        self.onQueueError = onQueueError
        self.wake = wake
        receiveBuffer = .allocate(byteCount: VirtioNet.maximumPacket, alignment: 16)
        transmitBuffer = .allocate(byteCount: VirtioNet.maximumPacket, alignment: 16)
        taken.reserveCapacity(Int(VirtioNet.queueSize))
    }

    deinit {
        receiveBuffer.deallocate()
        transmitBuffer.deallocate()
    }

    public var deviceType: UInt16 { 1 }
    public var queueMaxSizes: [UInt16] { [VirtioNet.queueSize, VirtioNet.queueSize] }

    /// The MTU offered to the driver: the backend's, when it is one a guest
    /// can use (68 is IPv4's minimum, §5.1.4.2 bounds it by the frame size).
    var offeredMTU: UInt16? {
        guard let m = backend.mtu, m >= 68, m <= VirtioNet.maximumFrame - 14 else { return nil }
        return UInt16(m)
    }

    public var offeredFeatures: UInt64 {
        var f = VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
            | Feature.checksum | Feature.guestChecksum | Feature.mac | Feature.status | Feature.mergeableRXBuffers
            | Feature.guestTSO4 | Feature.guestTSO6 | Feature.hostTSO4 | Feature.hostTSO6
        if offeredMTU != nil { f |= Feature.mtu }
        return f
    }

    /// §5.1.3.1: segmentation offloads need the matching checksum offload.
    public func acceptsFeatures(_ features: UInt64) -> Bool {
        func needs(_ a: UInt64, _ b: UInt64) -> Bool { features & a == 0 || features & b != 0 }
        return needs(Feature.guestTSO4, Feature.guestChecksum) && needs(Feature.guestTSO6, Feature.guestChecksum)
            && needs(Feature.hostTSO4, Feature.checksum) && needs(Feature.hostTSO6, Feature.checksum)
    }

    /// struct virtio_net_config (§5.1.4): mac[6], status (VIRTIO_NET_S_LINK_UP),
    /// max_virtqueue_pairs (1), mtu. Little-endian.
    public func configRead(offset: Int, size: Int) -> UInt64 {
        var config = mac + [1, 0, 1, 0, 0, 0]
        let mtu = offeredMTU ?? 0
        config[10] = UInt8(mtu & 0xFF)
        config[11] = UInt8(mtu >> 8)
        guard offset >= 0, size > 0, offset + size <= config.count else { return 0 }
        return (0..<size).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(config[offset + $1]) }
    }

    /// Nothing is writable: without VIRTIO_NET_F_CTRL_MAC_ADDR the MAC is read-only for a VERSION_1 driver.
    public func configWrite(offset: Int, size: Int, value: UInt64) {}

    public func activate(queues: [SplitVirtqueue], features: UInt64, memory: GuestMemory, interrupt: any VirtioInterrupt) {
        // The transport passes the enabled queues in index order.
        active.withLock {
            $0 = Active(paused: $0.paused, receive: queues.count > 0 ? queues[0] : nil,
                        transmit: queues.count > 1 ? queues[1] : nil, memory: memory, interrupt: interrupt,
                        features: features)
        }
        var offloads = NetOffloads()
        if features & Feature.guestChecksum != 0 { offloads.insert(.checksum) }
        if features & Feature.guestTSO4 != 0 { offloads.insert(.tso4) }
        if features & Feature.guestTSO6 != 0 { offloads.insert(.tso6) }
        backend.setOffloads(offloads)
        // Frames may be waiting in the backend since before the driver was ready.
        wake(VirtioNet.receiveQueue)
    }

    public func reset() {
        active.withLock { $0 = Active(paused: $0.paused) }
        backend.setOffloads([])
    }

    /// Stops or restarts all movement. Returns once a batch in progress has
    /// ended, so a stopped VM's memory no longer changes.
    public func setPaused(_ paused: Bool) {
        active.withLock { $0.paused = paused }
        if !paused {
            wake(VirtioNet.receiveQueue)
            wake(VirtioNet.transmitQueue)
        }
    }

    public func queueNotified(_ index: Int) { wake(index) }

    // MARK: transmit (§5.1.6.2)

    /// Sends every chain the driver queued; one interrupt for the batch.
    /// Runs with `active` locked, so a reset (or re-activation) waits for
    /// the batch: after a reset the device touches no guest memory (§2.4).
    public func processTransmit() {
        active.withLock { transmitLocked($0) }
    }

    private func transmitLocked(_ a: Active) {
        guard !a.paused, let queue = a.transmit, let memory = a.memory, let interrupt = a.interrupt,
              interrupt.mayAccessMemory else { return }
        let before = queue.usedIndex
        var handled = 0
        queue.suppressNotifications()
        defer {
            if queue.usedIndex != before && queue.shouldNotify(previousUsed: before) {
                interrupt.notifyQueue(VirtioNet.transmitQueue)
            }
        }
        while true {
            while let next = queue.pop() {
                switch next {
                case .success(let chain):
                    transmit(chain, memory: memory, features: a.features)
                    // Published per frame: the driver can reuse the buffer while the rest are sent.
                    queue.push(head: chain.head, written: 0)
                case .failure(let error):
                    onQueueError(error)
                    return
                }
                handled += 1
                if handled >= VirtioNet.batch {
                    wake(VirtioNet.transmitQueue)  // more next turn
                    return
                }
            }
            guard queue.rearmNotifications() else { return }
            queue.suppressNotifications()
        }
    }

    private func transmit(_ chain: DescriptorChain, memory: GuestMemory, features: UInt64) {
        var length = 0
        for b in chain.readable {
            guard length + Int(b.length) <= transmitBuffer.count else { return dropTransmit() }
            let target = UnsafeMutableRawBufferPointer(rebasing: transmitBuffer[length..<length + Int(b.length)])
            guard (try? memory.read(into: target, at: b.address)) != nil else { return dropTransmit() }
            length += Int(b.length)
        }
        guard length >= VirtioNet.headerSize, headerAllowed(features: features) else { return dropTransmit() }
        if backend.send(UnsafeRawBufferPointer(rebasing: transmitBuffer[0..<length])) {
            transmittedFrames.wrappingAdd(1, ordering: .relaxed)
            transmittedBytes.wrappingAdd(UInt64(length - VirtioNet.headerSize), ordering: .relaxed)
        } else {
            dropTransmit()
        }
    }

    /// The TX header may ask only for offloads the driver negotiated (§5.1.6.2.1).
    private func headerAllowed(features: UInt64) -> Bool {
        let flags = transmitBuffer[0], gso = transmitBuffer[1]
        guard flags & ~VirtioNet.flagNeedsChecksum == 0 else { return false }
        if flags & VirtioNet.flagNeedsChecksum != 0 && features & Feature.checksum == 0 { return false }
        switch gso {
        case VirtioNet.gsoNone: return true
        case VirtioNet.gsoTCPv4: return features & Feature.hostTSO4 != 0
        case VirtioNet.gsoTCPv6: return features & Feature.hostTSO6 != 0
        default: return false  // UDP fragmentation, ECN: not offered
        }
    }

    private func dropTransmit() { transmitDropped.wrappingAdd(1, ordering: .relaxed) }

    // MARK: receive (§5.1.6.3, §5.1.6.4)

    public enum ReceiveOutcome: Equatable {
        /// The backend has nothing more now (or a batch was done): keep reading it when it is ready.
        case backendDrained
        /// The guest has no buffers (or the device is not ready): stop reading
        /// the backend until the driver notifies the receive queue.
        case waitingForBuffers
    }

    /// Moves frames from the backend into the driver's receive buffers
    /// (with `active` locked, as `processTransmit`).
    public func processReceive() -> ReceiveOutcome {
        active.withLock { receiveLocked($0) }
    }

    private func receiveLocked(_ a: Active) -> ReceiveOutcome {
        guard !a.paused, let queue = a.receive, let memory = a.memory, let interrupt = a.interrupt,
              interrupt.mayAccessMemory else {
            return .waitingForBuffers
        }
        let before = queue.usedIndex
        defer {
            queue.publishUsed()
            if queue.usedIndex != before && queue.shouldNotify(previousUsed: before) {
                interrupt.notifyQueue(VirtioNet.receiveQueue)
            }
        }
        let mergeable = a.features & Feature.mergeableRXBuffers != 0
        for _ in 0..<VirtioNet.batch {
            if pendingLength == 0 {
                guard let n = backend.receive(into: receiveBuffer) else { return .backendDrained }
                guard n >= VirtioNet.headerSize else {
                    receiveDropped.wrappingAdd(1, ordering: .relaxed)
                    continue
                }
                pendingLength = n
                // §5.1.6.3.1: without GUEST_CSUM flags are zero (the host may mark DATA_VALID).
                if a.features & Feature.guestChecksum == 0 { receiveBuffer[0] = 0 }
            }
            switch place(queue: queue, memory: memory, mergeable: mergeable) {
            case .placed:
                receivedFrames.wrappingAdd(1, ordering: .relaxed)
                receivedBytes.wrappingAdd(UInt64(pendingLength - VirtioNet.headerSize), ordering: .relaxed)
                pendingLength = 0
            case .dropped:
                receiveDropped.wrappingAdd(1, ordering: .relaxed)
                pendingLength = 0
            case .noBuffers:
                return .waitingForBuffers
            case .broken(let error):
                onQueueError(error)
                return .waitingForBuffers
            }
        }
        return .backendDrained
    }

    enum Placement { case placed, dropped, noBuffers, broken(VirtqueueError) }

    /// Puts the pending frame into one chain, or with MRG_RXBUF into as many
    /// as it needs (num_buffers says how many). Chains are taken only when
    /// the whole frame fits; otherwise they go back to the ring unused.
    private func place(queue: SplitVirtqueue, memory: GuestMemory, mergeable: Bool) -> Placement {
        taken.removeAll(keepingCapacity: true)
        var room = 0
        while room < pendingLength {
            guard let next = queue.pop() else {
                // Ask for a notification past what is taken; the driver may
                // have added a chain meanwhile.
                if queue.rearmNotifications() { continue }
                queue.undoPop(UInt16(taken.count))
                return .noBuffers
            }
            let chain: DescriptorChain
            switch next {
            case .success(let c): chain = c
            case .failure(let error): return .broken(error)
            }
            let capacity = chain.writable.reduce(0) { $0 + Int($1.length) }
            // The header must fit in the first chain; without MRG_RXBUF the whole frame must.
            if (taken.isEmpty && capacity < VirtioNet.headerSize) || (!mergeable && capacity < pendingLength) {
                for t in taken { queue.push(head: t.head, written: 0, publish: false) }
                queue.push(head: chain.head, written: 0, publish: false)
                return .dropped
            }
            taken.append(chain)
            room += capacity
        }
        // num_buffers (§5.1.6.4): 1 without MRG_RXBUF.
        let count = UInt16(taken.count)
        receiveBuffer[10] = UInt8(count & 0xFF)
        receiveBuffer[11] = UInt8(count >> 8)
        var offset = 0
        for chain in taken {
            let start = offset
            for b in chain.writable where offset < pendingLength {
                let n = min(Int(b.length), pendingLength - offset)
                let source = UnsafeRawBufferPointer(rebasing: receiveBuffer[offset..<offset + n])
                guard (try? memory.write(source, at: b.address)) != nil else {
                    return .broken(.descriptorOutsideMemory(b.address, length: b.length))
                }
                offset += n
            }
            queue.push(head: chain.head, written: UInt32(offset - start), publish: false)
        }
        // The frame's chains appear together, and at once: the driver can
        // take this frame while the next is copied.
        queue.publishUsed()
        return .placed
    }

    /// The counters, for monitors and tests.
    public struct Statistics: Sendable, Equatable {
        public var receivedFrames, receivedBytes, receiveDropped: UInt64
        public var transmittedFrames, transmittedBytes, transmitDropped: UInt64
    }

    public var statistics: Statistics {
        Statistics(receivedFrames: receivedFrames.load(ordering: .relaxed),
                   receivedBytes: receivedBytes.load(ordering: .relaxed),
                   receiveDropped: receiveDropped.load(ordering: .relaxed),
                   transmittedFrames: transmittedFrames.load(ordering: .relaxed),
                   transmittedBytes: transmittedBytes.load(ordering: .relaxed),
                   transmitDropped: transmitDropped.load(ordering: .relaxed))
    }
}
