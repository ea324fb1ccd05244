@testable import Devices
import Foundation
import Memory
import Synchronization
import Testing

/// A tap in memory: frames the "host" sends to the guest wait in `inbound`;
/// what the guest transmits lands in `sent`.
final class FakeTap: NetBackend {
    struct State {
        var inbound: [[UInt8]] = []
        var sent: [[UInt8]] = []
        var offloads: [NetOffloads] = []
        var reads = 0
        var refuseSends = false
    }
    let state = Mutex(State())
    let mtu: Int?
    init(mtu: Int? = 1500) { self.mtu = mtu }

    /// Called at each send, before the frame is taken (tests look at the rings then).
    let onSend = Mutex<(@Sendable () -> Void)?>(nil)

    func send(_ frame: UnsafeRawBufferPointer) -> Bool {
        onSend.withLock { $0 }?()
        return state.withLock { s in
            if s.refuseSends { return false }
            s.sent.append(Array(frame))
            return true
        }
    }
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        state.withLock { s in
            s.reads += 1
            guard !s.inbound.isEmpty else { return nil }
            let f = s.inbound.removeFirst()
            precondition(f.count <= buffer.count)
            for (i, b) in f.enumerated() { buffer[i] = b }
            return f.count
        }
    }
    func setOffloads(_ offloads: NetOffloads) { state.withLock { $0.offloads.append(offloads) } }

    /// Queues a frame of `length` bytes (after the header) for the guest.
    func inject(length: Int, header: [UInt8] = [UInt8](repeating: 0, count: 12)) {
        state.withLock { $0.inbound.append(header + (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }) }
    }
}

/// Values a callback saw, in order.
final class Recorder<T: Sendable>: Sendable {
    private let storage = Mutex([T]())
    func append(_ v: T) { storage.withLock { $0.append(v) } }
    var values: [T] { storage.withLock { $0 } }
}

@Suite("virtio-net")
struct VirtioNetTests {
    let memory: GuestMemory
    var rx: MockDriverQueue
    var tx: MockDriverQueue
    let tap = FakeTap()
    let irq = RecordingVirtioInterrupt()
    let wakes = Recorder<Int>()
    let queueErrors = Recorder<VirtqueueError>()
    let net: VirtioNet
    static let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]

    init() throws {
        memory = try GuestMemory(ramSize: 4 << 20)
        rx = MockDriverQueue(memory: memory, size: 8, base: 0x10000)
        tx = MockDriverQueue(memory: memory, size: 8, base: 0x20000)
        let wakes = self.wakes, errors = self.queueErrors
        net = VirtioNet(backend: tap, mac: Self.mac, onQueueError: { e in errors.append(e) },
                        wake: { i in wakes.append(i) })
    }

    /// DRIVER_OK with `features` (the offered set minus `without`).
    func activate(without: UInt64 = 0) throws {
        let features = net.offeredFeatures & ~without
        let queues = try [rx, tx].map {
            try SplitVirtqueue(layout: $0.layout, maximumSize: 256, memory: memory, indirectDescriptors: true, eventIndex: false)
        }
        net.activate(queues: queues, features: features, memory: memory, interrupt: irq)
    }

    static let noOffloads = VirtioNet.Feature.mergeableRXBuffers | VirtioNet.Feature.checksum | VirtioNet.Feature.guestChecksum
        | VirtioNet.Feature.hostTSO4 | VirtioNet.Feature.hostTSO6 | VirtioNet.Feature.guestTSO4 | VirtioNet.Feature.guestTSO6

    /// Gives the device receive chain `index`: one writable buffer of `length` bytes.
    mutating func offerReceive(_ index: UInt16, length: UInt32) throws {
        try rx.setDescriptor(index, address: 0x100000 + UInt64(index) * 0x10000, length: length, flags: 2)
        try rx.offer(index)
    }

    /// Queues `bytes` for transmission, split over two descriptors after the header.
    mutating func offerTransmit(_ bytes: [UInt8], head: UInt16 = 0) throws {
        let at: UInt64 = 0x200000 + UInt64(head) * 0x20000
        try memory.write(bytes, at: GuestAddress(at))
        let split = UInt32(min(bytes.count, 12))
        try tx.setDescriptor(head, address: at, length: split, flags: 1, next: head + 1)
        try tx.setDescriptor(head + 1, address: at + UInt64(split), length: UInt32(bytes.count) - split, flags: 0)
        try tx.offer(head)
    }

    static func header(flags: UInt8 = 0, gso: UInt8 = 0) -> [UInt8] { [flags, gso] + [UInt8](repeating: 0, count: 10) }
    static let ethernet: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + mac + [0x08, 0x06] + [UInt8](repeating: 0xA5, count: 46)

    @Test("configuration space: MAC, link up, one queue pair, the tap's MTU")
    func configSpace() {
        #expect((0..<6).map { UInt8(net.configRead(offset: $0, size: 1)) } == Self.mac)
        #expect(net.configRead(offset: 6, size: 2) == 1)
        #expect(net.configRead(offset: 8, size: 2) == 1)
        #expect(net.configRead(offset: 10, size: 2) == 1500)
        #expect(net.configRead(offset: 11, size: 4) == 0)  // past the end
        #expect(net.offeredFeatures & VirtioNet.Feature.mtu != 0)
        let noMTU = VirtioNet(backend: FakeTap(mtu: nil), mac: Self.mac, wake: { _ in })
        #expect(noMTU.offeredFeatures & VirtioNet.Feature.mtu == 0)
        #expect(noMTU.deviceType == 1 && noMTU.queueMaxSizes.count == 2)
    }

    @Test("feature dependencies (§5.1.3.1): TSO needs the matching checksum offload")
    func featureDependencies() {
        #expect(net.acceptsFeatures(net.offeredFeatures))
        #expect(net.acceptsFeatures(VirtioFeature.version1))
        #expect(!net.acceptsFeatures(VirtioFeature.version1 | VirtioNet.Feature.guestTSO4))
        #expect(!net.acceptsFeatures(VirtioFeature.version1 | VirtioNet.Feature.hostTSO6))
        #expect(net.acceptsFeatures(VirtioFeature.version1 | VirtioNet.Feature.hostTSO6 | VirtioNet.Feature.checksum))
    }

    @Test("the tap's offloads follow what the driver negotiated, and are cleared at reset")
    func offloads() throws {
        try activate()
        try activate(without: VirtioNet.Feature.guestTSO6)
        try activate(without: Self.noOffloads)
        net.reset()
        #expect(tap.state.withLock { $0.offloads } == [[.checksum, .tso4, .tso6], [.checksum, .tso4], [], []])
        #expect(wakes.values == [0, 0, 0])  // frames that waited are delivered once the driver is ready
    }

    @Test("TX: header + frame gathered from the chain reach the tap; one interrupt")
    mutating func transmit() throws {
        try activate()
        let packet = Self.header() + Self.ethernet
        try offerTransmit(packet)
        net.processTransmit()
        #expect(tap.state.withLock { $0.sent } == [packet])
        #expect(tx.usedIndex == 1)
        #expect(try tx.usedEntry(0) == (id: 0, length: 0))
        #expect(irq.queueCount.withLock { $0 } == 1)
        #expect(net.statistics.transmittedFrames == 1 && net.statistics.transmittedBytes == UInt64(Self.ethernet.count))
    }

    @Test("TX: notifications suppressed while draining (VRING_USED_F_NO_NOTIFY), each frame published as sent")
    mutating func transmitPublishing() throws {
        try activate()
        let seen = Recorder<[UInt16]>()
        let memory = self.memory, used = tx.layout.usedRing
        tap.onSend.withLock {
            $0 = {
                let flags = (try? memory.load(UInt16.self, at: used)) ?? 99
                let index = (try? memory.load(UInt16.self, at: GuestAddress(used.rawValue + 2))) ?? 99
                seen.append([flags, index])
            }
        }
        try offerTransmit(Self.header() + Self.ethernet, head: 0)
        try offerTransmit(Self.header() + Self.ethernet, head: 2)
        try offerTransmit(Self.header() + Self.ethernet, head: 4)
        net.processTransmit()
        #expect(seen.values == [[1, 0], [1, 1], [1, 2]])
        #expect(try memory.load(UInt16.self, at: used) == 0)  // notifications back on before the device sleeps
        #expect(tx.usedIndex == 3 && irq.queueCount.withLock { $0 } == 1)
    }

    @Test("TX hostile: oversize, shorter than the header, offloads not negotiated: dropped, counted, device goes on")
    mutating func transmitHostile() throws {
        try activate(without: Self.noOffloads)
        try offerTransmit([UInt8](repeating: 0, count: VirtioNet.maximumPacket + 1), head: 0)
        try offerTransmit([1, 2, 3, 4, 5], head: 2)
        try offerTransmit(Self.header(flags: 1) + Self.ethernet, head: 4)       // NEEDS_CSUM without CSUM
        try offerTransmit(Self.header(gso: 1) + Self.ethernet, head: 6)         // TCPv4 GSO without HOST_TSO4
        net.processTransmit()
        #expect(tap.state.withLock { $0.sent }.isEmpty)
        #expect(net.statistics.transmitDropped == 4)
        #expect(tx.usedIndex == 4)  // every chain returned
        try offerTransmit(Self.header() + Self.ethernet, head: 0)
        net.processTransmit()
        #expect(tap.state.withLock { $0.sent.count } == 1)
        tap.state.withLock { $0.refuseSends = true }
        try offerTransmit(Self.header() + Self.ethernet, head: 2)
        net.processTransmit()
        #expect(net.statistics.transmitDropped == 5 && net.statistics.transmittedFrames == 1)
    }

    @Test("TX with CSUM and HOST_TSO4 negotiated: an offload header passes through")
    mutating func transmitOffload() throws {
        try activate()
        let packet = Self.header(flags: 1, gso: 1) + Self.ethernet
        try offerTransmit(packet)
        net.processTransmit()
        #expect(tap.state.withLock { $0.sent } == [packet])
    }

    @Test("RX: one frame in one chain, num_buffers 1, flags cleared without GUEST_CSUM")
    mutating func receive() throws {
        try activate(without: Self.noOffloads)
        tap.inject(length: 60, header: [2] + [UInt8](repeating: 0, count: 11))  // DATA_VALID from the host
        try offerReceive(0, length: 1526)
        #expect(net.processReceive() == .backendDrained)
        #expect(rx.usedIndex == 1)
        #expect(try rx.usedEntry(0) == (id: 0, length: 72))
        let got = try memory.read(count: 72, at: GuestAddress(0x100000))
        #expect(got[0] == 0 && got[10] == 1 && got[11] == 0)
        #expect(Array(got[12...]) == (0..<60).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
        #expect(irq.queueCount.withLock { $0 } == 1)
        #expect(net.statistics.receivedFrames == 1 && net.statistics.receivedBytes == 60)
    }

    @Test("RX back-pressure: no guest buffers, one frame held, the tap not read again until a buffer comes")
    mutating func receiveBackPressure() throws {
        try activate(without: Self.noOffloads)
        tap.inject(length: 100)
        tap.inject(length: 100)
        #expect(net.processReceive() == .waitingForBuffers)
        #expect(net.processReceive() == .waitingForBuffers)
        #expect(tap.state.withLock { ($0.reads, $0.inbound.count) } == (1, 1))
        try offerReceive(0, length: 1526)
        try offerReceive(1, length: 1526)
        #expect(net.processReceive() == .backendDrained)
        #expect(rx.usedIndex == 2 && net.statistics.receivedFrames == 2 && net.statistics.receiveDropped == 0)
    }

    @Test("RX hostile: a buffer too small for the header, or (without MRG_RXBUF) for the frame: frame dropped, buffer returned")
    mutating func receiveSmallBuffers() throws {
        try activate(without: Self.noOffloads)
        tap.inject(length: 60)
        tap.inject(length: 1000)
        tap.inject(length: 60)
        try offerReceive(0, length: 8)      // < header
        try offerReceive(1, length: 500)    // < frame
        try offerReceive(2, length: 1526)
        #expect(net.processReceive() == .backendDrained)
        #expect(net.statistics.receiveDropped == 2 && net.statistics.receivedFrames == 1)
        #expect(try rx.usedEntry(0) == (id: 0, length: 0))
        #expect(try rx.usedEntry(1) == (id: 1, length: 0))
        #expect(try rx.usedEntry(2) == (id: 2, length: 72))
    }

    @Test("RX with MRG_RXBUF: a frame over two chains, num_buffers 2, both entries published together")
    mutating func receiveMergeable() throws {
        try activate()
        tap.inject(length: 3000)
        try offerReceive(0, length: 2048)
        #expect(net.processReceive() == .waitingForBuffers)
        #expect(rx.usedIndex == 0)  // the first chain went back to the ring untouched
        try offerReceive(1, length: 2048)
        #expect(net.processReceive() == .backendDrained)
        #expect(rx.usedIndex == 2)
        #expect(try rx.usedEntry(0) == (id: 0, length: 2048))
        #expect(try rx.usedEntry(1) == (id: 1, length: 3012 - 2048))
        #expect(try memory.load(UInt16.self, at: GuestAddress(0x100000 + 10)) == 2)
        let tail = try memory.read(count: 3012 - 2048, at: GuestAddress(0x110000))
        #expect(tail.first == UInt8(truncatingIfNeeded: (2048 - 12) &* 7 &+ 1))
    }

    @Test("a broken receive queue is reported (NEEDS_RESET) and reading stops")
    mutating func brokenQueue() throws {
        try activate(without: Self.noOffloads)
        tap.inject(length: 60)
        try rx.setAvailableIndex(1)
        try memory.store(UInt16(99), at: GuestAddress(rx.layout.availableRing.rawValue + 4))  // head past the table
        #expect(net.processReceive() == .waitingForBuffers)
        #expect(queueErrors.values == [.headOutOfRange(99)])
    }

    @Test("paused with the VM (QMP stop): nothing read, sent or written; resuming wakes both queues")
    mutating func paused() throws {
        try activate(without: Self.noOffloads)
        net.setPaused(true)
        net.reset()                       // a reset while stopped keeps it stopped
        try activate(without: Self.noOffloads)
        tap.inject(length: 60)
        try offerReceive(0, length: 1526)
        try offerTransmit(Self.header() + Self.ethernet, head: 0)
        #expect(net.processReceive() == .waitingForBuffers)
        net.processTransmit()
        #expect(tap.state.withLock { ($0.reads, $0.sent.count) } == (0, 0))
        #expect(rx.usedIndex == 0 && tx.usedIndex == 0)
        let wakesBefore = wakes.values.count
        net.setPaused(false)
        #expect(Array(wakes.values.dropFirst(wakesBefore)) == [0, 1])
        #expect(net.processReceive() == .backendDrained)
        net.processTransmit()
        #expect(rx.usedIndex == 1 && tx.usedIndex == 1)
    }

    @Test("without bus mastering nothing moves")
    mutating func busMasterOff() throws {
        struct Off: VirtioInterrupt {
            func notifyQueue(_ index: Int) {}
            func notifyConfigChange() {}
            var mayAccessMemory: Bool { false }
        }
        let queues = try [rx, tx].map {
            try SplitVirtqueue(layout: $0.layout, maximumSize: 256, memory: memory, indirectDescriptors: true, eventIndex: false)
        }
        net.activate(queues: queues, features: net.offeredFeatures, memory: memory, interrupt: Off())
        tap.inject(length: 60)
        try offerReceive(0, length: 1526)
        try offerTransmit(Self.header() + Self.ethernet, head: 0)
        #expect(net.processReceive() == .waitingForBuffers)
        net.processTransmit()
        #expect(rx.usedIndex == 0 && tx.usedIndex == 0 && tap.state.withLock { $0.sent.isEmpty })
    }

    @Test("a reset waits for the receive batch in progress (no guest memory access after reset, §2.4)")
    mutating func resetWaitsForBatch() throws {
        /// A tap whose read blocks until released.
        final class SlowTap: NetBackend {
            let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
            let mtu: Int? = nil
            func send(_ frame: UnsafeRawBufferPointer) -> Bool { true }
            let calls = Recorder<Int>()
            func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
                calls.append(1)
                guard calls.values.count == 1 else { return nil }  // one frame, then nothing
                entered.signal()
                release.wait()
                for i in 0..<72 { buffer[i] = 0 }
                return 72
            }
            func setOffloads(_ offloads: NetOffloads) {}
        }
        let tap = SlowTap()
        let device = VirtioNet(backend: tap, mac: Self.mac, wake: { _ in })
        let queues = try [rx, tx].map {
            try SplitVirtqueue(layout: $0.layout, maximumSize: 256, memory: memory, indirectDescriptors: true, eventIndex: false)
        }
        device.activate(queues: queues, features: VirtioFeature.version1, memory: memory, interrupt: irq)
        try offerReceive(0, length: 1526)
        let worker = Thread { _ = device.processReceive() }
        worker.start()
        tap.entered.wait()
        let resetDone = Recorder<Bool>()
        let resetter = Thread {
            device.reset()
            resetDone.append(true)
        }
        resetter.start()
        Thread.sleep(forTimeInterval: 0.1)
        #expect(resetDone.values.isEmpty)  // still waiting for the batch
        tap.release.signal()
        for _ in 0..<200 where resetDone.values.isEmpty { Thread.sleep(forTimeInterval: 0.01) }
        #expect(resetDone.values == [true])
        #expect(rx.usedIndex == 1)  // the frame in flight was placed before the reset
        // After the reset nothing is read or written.
        #expect(device.processReceive() == .waitingForBuffers)
    }
}
