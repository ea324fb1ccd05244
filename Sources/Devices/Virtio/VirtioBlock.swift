import Memory
import Synchronization

/// virtio-blk (virtio 1.2 §5.2) over a `BlockBackend`: IN, OUT, FLUSH,
/// GET_ID, DISCARD and WRITE_ZEROES on one request queue. Every request is
/// checked before any I/O (Firecracker's request.rs order): header size,
/// a status byte, data direction, 512-byte multiples, sector arithmetic
/// without overflow, the disk's end, read-only. A bad request gets
/// VIRTIO_BLK_S_IOERR or S_UNSUPP and the chain goes back to the driver; a
/// bad queue sets NEEDS_RESET through the transport.
public final class VirtioBlock: VirtioDevice, @unchecked Sendable {
    // Mutable state (queue, memory, interrupt) lives in `active`, behind a Mutex.

    public static let sectorSize: UInt64 = 512
    static let queueSize: UInt16 = 256
    /// Data segments per request we accept (seg_max).
    static let segmentMax: UInt32 = 126
    /// The largest data transfer one request may make, in bytes (exclusive).
    static let maximumTransfer = UInt64(UInt32.max)
    static let maxDiscardSectors: UInt32 = 1 << 22

    // Feature bits (§5.2.3).
    static let featureSegMax: UInt64 = 1 << 2
    static let featureReadOnly: UInt64 = 1 << 5
    static let featureBlockSize: UInt64 = 1 << 6
    static let featureFlush: UInt64 = 1 << 9
    static let featureDiscard: UInt64 = 1 << 13
    static let featureWriteZeroes: UInt64 = 1 << 14

    // Request types and status (§5.2.6).
    enum RequestType: UInt32 { case read = 0, write = 1, flush = 4, getID = 8, discard = 11, writeZeroes = 13 }
    public enum Status: UInt8 { case ok = 0, ioError = 1, unsupported = 2 }

    public let backend: any BlockBackend
    public let serial: String

    struct Active {
        /// The VM is stopped: requests wait (kept across device resets).
        var paused = false
        var queue: SplitVirtqueue?
        var memory: GuestMemory?
        var interrupt: (any VirtioInterrupt)?
    }

    private let active = Mutex(Active())
    /// Requests that failed validation (guest mistakes), for diagnostics.
    public let rejectedRequests = Atomic<UInt64>(0)
    /// Called when the queue itself is broken (the transport sets NEEDS_RESET).
    private let onQueueError: @Sendable (VirtqueueError) -> Void
    /// Hands a queue notification to an I/O thread; nil processes inline.
    private let scheduleWork: (@Sendable () -> Void)?

    public init(backend: any BlockBackend, serial: String,
                onQueueError: @escaping @Sendable (VirtqueueError) -> Void = { _ in },
                scheduleWork: (@Sendable () -> Void)? = nil) {
        self.backend = backend
        self.serial = serial
        self.onQueueError = onQueueError
        self.scheduleWork = scheduleWork
    }

    public var deviceType: UInt16 { 2 }
    public var queueMaxSizes: [UInt16] { [VirtioBlock.queueSize] }

    public var offeredFeatures: UInt64 {
        var f = VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
            | VirtioBlock.featureSegMax | VirtioBlock.featureBlockSize | VirtioBlock.featureFlush
        if backend.readOnly {
            f |= VirtioBlock.featureReadOnly
        } else {
            f |= VirtioBlock.featureDiscard | VirtioBlock.featureWriteZeroes
        }
        return f
    }

    public var capacitySectors: UInt64 { backend.size / VirtioBlock.sectorSize }

    /// struct virtio_blk_config (§5.2.4), little-endian.
    public func configRead(offset: Int, size: Int) -> UInt64 {
        var config = [UInt8](repeating: 0, count: 60)
        func put<T: FixedWidthInteger>(_ v: T, _ o: Int) {
            withUnsafeBytes(of: v.littleEndian) { for (i, b) in $0.enumerated() { config[o + i] = b } }
        }
        put(capacitySectors, 0)
        put(VirtioBlock.segmentMax, 12)
        put(UInt32(VirtioBlock.sectorSize), 20)
        put(UInt32(VirtioBlock.maxDiscardSectors), 36)
        put(UInt32(1), 40)   // max_discard_seg
        put(UInt32(1), 44)   // discard_sector_alignment
        put(UInt32(VirtioBlock.maxDiscardSectors), 48)
        put(UInt32(1), 52)   // max_write_zeroes_seg
        guard offset >= 0, size > 0, offset + size <= config.count else { return 0 }
        return (0..<size).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(config[offset + $1]) }
    }

    public func configWrite(offset: Int, size: Int, value: UInt64) {}  // nothing writable (no writeback toggle)

    public func activate(queues: [SplitVirtqueue], features: UInt64, memory: GuestMemory, interrupt: any VirtioInterrupt) {
        active.withLock { $0 = Active(paused: $0.paused, queue: queues.first, memory: memory, interrupt: interrupt) }
    }

    public func reset() { active.withLock { $0 = Active(paused: $0.paused) } }

    /// Stops or restarts request processing; returns once a batch in
    /// progress has ended (a stopped VM's memory and disk no longer change).
    public func setPaused(_ paused: Bool) {
        active.withLock { $0.paused = paused }
        if !paused { queueNotified(0) }
    }

    /// Makes what was written durable (fdatasync for a writable image), as
    /// the VMM stops.
    public func flushBackend() -> Bool { backend.flush() }

    /// A doorbell: the requests run on the I/O thread (off the vCPU thread)
    /// when one is attached.
    public func queueNotified(_ index: Int) {
        if let scheduleWork { scheduleWork() } else { processQueue() }
    }

    /// Handles every available request; one interrupt for the batch when
    /// the driver wants it.
    /// Runs with `active` locked: a reset waits for the batch in progress,
    /// after which the device touches no guest memory (§2.4).
    public func processQueue() {
        active.withLock { processLocked($0) }
    }

    private func processLocked(_ a: Active) {
        guard !a.paused else { return }
        let (queue, memory, interrupt) = (a.queue, a.memory, a.interrupt)
        // Without bus mastering the requests wait (the driver notifies again
        // once it has enabled it).
        guard let queue, let memory, interrupt?.mayAccessMemory ?? false else { return }
        let before = queue.usedIndex
        repeat {
            while let next = queue.pop() {
                switch next {
                case .success(let chain):
                    let written = handle(chain, memory: memory)
                    queue.push(head: chain.head, written: written)
                case .failure(let error):
                    onQueueError(error)
                    return
                }
            }
        } while queue.rearmNotifications()  // requests that came while notifications were off
        if queue.usedIndex != before && queue.shouldNotify(previousUsed: before) { interrupt?.notifyQueue(0) }
    }

    /// Runs one request; returns the bytes written into the chain (data + status).
    func handle(_ chain: DescriptorChain, memory: GuestMemory) -> UInt32 {
        // The status byte is the last byte of the last writable buffer.
        guard let last = chain.writable.last, last.length >= 1 else {
            rejectedRequests.wrappingAdd(1, ordering: .relaxed)
            return 0  // nowhere to report: give the chain back untouched
        }
        let statusAddress = GuestAddress(last.address.rawValue + UInt64(last.length) - 1)
        var dataIn = chain.writable
        dataIn[dataIn.count - 1] = VirtioBuffer.shortened(last, by: 1)
        if dataIn[dataIn.count - 1].length == 0 { dataIn.removeLast() }

        let (status, written) = execute(chain, dataIn: dataIn, memory: memory)
        if status != .ok { rejectedRequests.wrappingAdd(1, ordering: .relaxed) }
        try? memory.store(status.rawValue, at: statusAddress)
        return written + 1
    }

    private func execute(_ chain: DescriptorChain, dataIn: [VirtqueueBuffer], memory: GuestMemory) -> (Status, UInt32) {
        guard let headerBuffer = chain.readable.first, headerBuffer.length >= 16,
              let header = try? memory.read(count: 16, at: headerBuffer.address) else { return (.ioError, 0) }
        let rawType = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        let sector = (8..<16).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(header[$1]) }
        // Data the driver sent after the header (OUT, DISCARD, WRITE_ZEROES).
        var dataOut = Array(chain.readable.dropFirst())
        if headerBuffer.length > 16 {
            dataOut.insert(VirtqueueBuffer(address: GuestAddress(headerBuffer.address.rawValue + 16),
                                           length: headerBuffer.length - 16), at: 0)
        }
        guard let type = RequestType(rawValue: rawType) else { return (.unsupported, 0) }
        switch type {
        case .read:
            guard dataOut.isEmpty, let range = byteRange(sector: sector, buffers: dataIn) else { return (.ioError, 0) }
            var at = range.start
            var total: UInt32 = 0
            for b in dataIn {
                var bounce = [UInt8](repeating: 0, count: Int(b.length))
                let ok = bounce.withUnsafeMutableBytes { backend.read(at: at, into: $0) }
                guard ok, (try? memory.write(bounce, at: b.address)) != nil else { return (.ioError, total) }
                at += UInt64(b.length)
                total += b.length
            }
            return (.ok, total)
        case .write:
            guard !backend.readOnly else { return (.ioError, 0) }
            guard dataIn.isEmpty, let range = byteRange(sector: sector, buffers: dataOut) else { return (.ioError, 0) }
            var at = range.start
            for b in dataOut {
                guard let bytes = try? memory.read(count: Int(b.length), at: b.address),
                      bytes.withUnsafeBytes({ backend.write(at: at, from: $0) }) else { return (.ioError, 0) }
                at += UInt64(b.length)
            }
            return (.ok, 0)
        case .flush:
            return (backend.flush() ? .ok : .ioError, 0)
        case .getID:
            // Up to 20 bytes, NUL-padded (§5.2.6.1).
            guard let b = dataIn.first else { return (.ioError, 0) }
            var id = Array(serial.utf8.prefix(20))
            id += [UInt8](repeating: 0, count: 20 - id.count)
            let n = Int(min(b.length, 20))
            guard (try? memory.write(Array(id[0..<n]), at: b.address)) != nil else { return (.ioError, 0) }
            return (.ok, UInt32(n))
        case .discard, .writeZeroes:
            guard !backend.readOnly else { return (.ioError, 0) }
            // One 16-byte segment: sector u64, num_sectors u32, flags u32.
            guard dataIn.isEmpty, dataOut.count == 1, dataOut[0].length == 16,
                  let seg = try? memory.read(count: 16, at: dataOut[0].address) else { return (.ioError, 0) }
            let start = (0..<8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(seg[$1]) }
            let count = (8..<12).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64(seg[$1]) }
            let flags = (12..<16).reversed().reduce(UInt32(0)) { $0 << 8 | UInt32(seg[$1]) }
            guard count <= UInt64(VirtioBlock.maxDiscardSectors), flags & ~1 == 0,
                  let end = checkedEnd(sector: start, sectors: count) else { return (.ioError, 0) }
            let offset = start * VirtioBlock.sectorSize, length = end - offset
            let ok = type == .discard ? backend.discard(at: offset, length: length)
                                      : backend.writeZeroes(at: offset, length: length)
            return (ok ? .ok : .ioError, 0)
        }
    }

    /// The byte range a data transfer covers, if its buffers are whole
    /// sectors, within seg_max, and inside the disk.
    private func byteRange(sector: UInt64, buffers: [VirtqueueBuffer]) -> (start: UInt64, end: UInt64)? {
        guard !buffers.isEmpty, buffers.count <= Int(VirtioBlock.segmentMax) else { return nil }
        // At most 126 buffers of < 4 GiB: the sum fits 64 bits. The used
        // ring's len is 32 bits and counts the status byte too, so a
        // transfer must stay under 4 GiB - 1 (QEMU answers IOERR as well).
        let bytes = buffers.reduce(UInt64(0)) { $0 + UInt64($1.length) }
        guard bytes < VirtioBlock.maximumTransfer, bytes % VirtioBlock.sectorSize == 0, let end = checkedEnd(sector: sector, sectors: bytes / VirtioBlock.sectorSize) else {
            return nil
        }
        return (sector * VirtioBlock.sectorSize, end)
    }

    /// (sector + sectors) * 512 with overflow and disk-end checks.
    private func checkedEnd(sector: UInt64, sectors: UInt64) -> UInt64? {
        let (last, o1) = sector.addingReportingOverflow(sectors)
        guard !o1, last <= capacitySectors else { return nil }
        return last * VirtioBlock.sectorSize
    }
}

enum VirtioBuffer {
    static func shortened(_ b: VirtqueueBuffer, by n: UInt32) -> VirtqueueBuffer {
        VirtqueueBuffer(address: b.address, length: b.length - n)
    }
}
