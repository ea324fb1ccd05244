@testable import Devices
import Foundation
import Memory
import Synchronization
import Testing

/// An in-memory disk that records flushes, discards and zeroed ranges.
final class FakeDisk: BlockBackend {
    let data: Mutex<[UInt8]>
    let calls = Mutex([String]())
    let readOnly: Bool
    init(sectors: Int, readOnly: Bool = false) {
        data = Mutex((0..<sectors * 512).map { UInt8(truncatingIfNeeded: $0 / 512) })
        self.readOnly = readOnly
    }
    var size: UInt64 { UInt64(data.withLock { $0.count }) }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        data.withLock { d in
            for i in 0..<buffer.count { buffer[i] = d[Int(offset) + i] }
        }
        return true
    }
    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool {
        data.withLock { d in for i in 0..<buffer.count { d[Int(offset) + i] = buffer[i] } }
        return true
    }
    func flush() -> Bool { calls.withLock { $0.append("flush") }; return true }
    func discard(at offset: UInt64, length: UInt64) -> Bool { calls.withLock { $0.append("discard \(offset)+\(length)") }; return true }
    func writeZeroes(at offset: UInt64, length: UInt64) -> Bool { calls.withLock { $0.append("zero \(offset)+\(length)") }; return true }
}

final class RecordingVirtioInterrupt: VirtioInterrupt {
    let queueCount = Mutex(0)
    func notifyQueue(_ index: Int) { queueCount.withLock { $0 += 1 } }
    func notifyConfigChange() {}
}

@Suite("virtio-blk")
struct VirtioBlockTests {
    let memory: GuestMemory
    var driver: MockDriverQueue
    let disk = FakeDisk(sectors: 16)
    let irq = RecordingVirtioInterrupt()
    let blk: VirtioBlock

    init() throws {
        memory = try GuestMemory(ramSize: 4 << 20)
        driver = MockDriverQueue(memory: memory)
        blk = VirtioBlock(backend: disk, serial: "swiftvmm-disk0")
        try activate(blk)
    }

    func activate(_ device: VirtioBlock) throws {
        let q = try SplitVirtqueue(layout: driver.layout, maximumSize: 256, memory: memory,
                                   indirectDescriptors: true, eventIndex: false)
        device.activate(queues: [q], features: device.offeredFeatures, memory: memory, interrupt: irq)
    }

    static let header: UInt64 = 0x20000, data: UInt64 = 0x21000, status: UInt64 = 0x23000

    /// header (readable) [+ data] + status (writable).
    mutating func submit(type: UInt32, sector: UInt64, dataLength: UInt32 = 0, dataWritable: Bool = true,
                         headerLength: UInt32 = 16) throws -> (status: UInt8, used: UInt32) {
        try memory.store(type, at: GuestAddress(Self.header))
        try memory.store(UInt32(0), at: GuestAddress(Self.header + 4))
        try memory.store(sector, at: GuestAddress(Self.header + 8))
        try memory.store(UInt8(0xEE), at: GuestAddress(Self.status))
        if dataLength > 0 {
            try driver.setDescriptor(0, address: Self.header, length: headerLength, flags: 1, next: 1)
            try driver.setDescriptor(1, address: Self.data, length: dataLength, flags: 1 | (dataWritable ? 2 : 0), next: 2)
            try driver.setDescriptor(2, address: Self.status, length: 1, flags: 2)
        } else {
            try driver.setDescriptor(0, address: Self.header, length: headerLength, flags: 1, next: 2)
            try driver.setDescriptor(2, address: Self.status, length: 1, flags: 2)
        }
        try driver.offer(0)
        blk.processQueue()
        let used = try driver.usedEntry(driver.usedIndex &- 1)
        return (try memory.load(UInt8.self, at: GuestAddress(Self.status)), used.length)
    }

    @Test("configuration: capacity in sectors, seg_max, blk_size")
    func config() {
        #expect(blk.configRead(offset: 0, size: 8) == 16)
        #expect(blk.configRead(offset: 12, size: 4) == 126)
        #expect(blk.configRead(offset: 20, size: 4) == 512)
        #expect(blk.offeredFeatures & VirtioFeature.version1 != 0)
        #expect(blk.offeredFeatures & (1 << 5) == 0)
        #expect(VirtioBlock(backend: FakeDisk(sectors: 1, readOnly: true), serial: "").offeredFeatures & (1 << 5) != 0)
    }

    @Test("IN reads sectors into the guest; OUT writes them; used length counts data + status")
    mutating func readWrite() throws {
        var r = try submit(type: 0, sector: 3, dataLength: 1024)
        #expect(r.status == 0 && r.used == 1025)
        #expect(try memory.read(count: 2, at: GuestAddress(Self.data + 511)) == [3, 4])
        try memory.write([UInt8](repeating: 0xAB, count: 512), at: GuestAddress(Self.data))
        r = try submit(type: 1, sector: 15, dataLength: 512, dataWritable: false)
        #expect(r.status == 0 && r.used == 1)
        #expect(disk.data.withLock { $0[15 * 512] } == 0xAB)
        #expect(irq.queueCount.withLock { $0 } == 2)
    }

    @Test("refused before any I/O: past the end, sector overflow, partial sectors, wrong direction")
    mutating func refusals() throws {
        let before = disk.data.withLock { $0 }
        #expect(try submit(type: 0, sector: 15, dataLength: 1024).status == 1)  // past the end
        #expect(try submit(type: 0, sector: UInt64.max, dataLength: 512).status == 1)  // overflow
        #expect(try submit(type: 0, sector: 0, dataLength: 100).status == 1)  // not a sector multiple
        #expect(try submit(type: 1, sector: 0, dataLength: 512, dataWritable: true).status == 1)  // OUT into a writable buffer
        #expect(try submit(type: 0, sector: 0, dataLength: 512, headerLength: 8).status == 1)  // short header
        #expect(try submit(type: 99, sector: 0).status == 2)  // unknown type: UNSUPP
        #expect(disk.data.withLock { $0 } == before)
        #expect(blk.rejectedRequests.load(ordering: .relaxed) == 6)
    }

    @Test("read-only disks fail writes with IOERR and keep their data")
    mutating func readOnly() throws {
        let ro = FakeDisk(sectors: 4, readOnly: true)
        let device = VirtioBlock(backend: ro, serial: "ro")
        try activate(device)
        try memory.store(UInt32(1), at: GuestAddress(Self.header))
        try memory.store(UInt64(0), at: GuestAddress(Self.header + 8))
        try driver.setDescriptor(0, address: Self.header, length: 16, flags: 1, next: 1)
        try driver.setDescriptor(1, address: Self.data, length: 512, flags: 1, next: 2)
        try driver.setDescriptor(2, address: Self.status, length: 1, flags: 2)
        try driver.offer(0)
        device.processQueue()
        #expect(try memory.load(UInt8.self, at: GuestAddress(Self.status)) == 1)
        #expect(ro.data.withLock { $0[0] } == 0)
    }

    @Test("FLUSH, GET_ID, DISCARD and WRITE_ZEROES reach the backend")
    mutating func otherRequests() throws {
        #expect(try submit(type: 4, sector: 0).status == 0)
        #expect(disk.calls.withLock { $0 } == ["flush"])
        let id = try submit(type: 8, sector: 0, dataLength: 20)
        #expect(id.status == 0 && id.used == 21)
        #expect(try memory.read(count: 15, at: GuestAddress(Self.data)) == Array("swiftvmm-disk0\0".utf8))
        // Segment: sector 2, 3 sectors, flags 0.
        try memory.store(UInt64(2), at: GuestAddress(Self.data))
        try memory.store(UInt32(3), at: GuestAddress(Self.data + 8))
        try memory.store(UInt32(0), at: GuestAddress(Self.data + 12))
        #expect(try submit(type: 11, sector: 0, dataLength: 16, dataWritable: false).status == 0)
        #expect(try submit(type: 13, sector: 0, dataLength: 16, dataWritable: false).status == 0)
        #expect(disk.calls.withLock { $0 }.suffix(2) == ["discard 1024+1536", "zero 1024+1536"])
        try memory.store(UInt32(15), at: GuestAddress(Self.data + 8))  // past the end
        #expect(try submit(type: 11, sector: 0, dataLength: 16, dataWritable: false).status == 1)
    }

    @Test("paused with the VM: requests wait untouched; resuming runs them")
    mutating func pausedWithTheVM() throws {
        blk.setPaused(true)
        try memory.store(UInt32(4), at: GuestAddress(Self.header))  // FLUSH
        try driver.setDescriptor(0, address: Self.header, length: 16, flags: 1, next: 2)
        try driver.setDescriptor(2, address: Self.status, length: 1, flags: 2)
        try driver.offer(0)
        blk.processQueue()
        #expect(driver.usedIndex == 0 && disk.calls.withLock { $0 }.isEmpty)
        blk.setPaused(false)  // no I/O thread here: resuming processes inline
        #expect(driver.usedIndex == 1 && disk.calls.withLock { $0 } == ["flush"])
    }

    @Test("without bus mastering requests wait untouched, then run once it is on")
    mutating func busMasterGate() throws {
        final class Gate: VirtioInterrupt {
            let on = Mutex(false)
            func notifyQueue(_ index: Int) {}
            func notifyConfigChange() {}
            var mayAccessMemory: Bool { on.withLock { $0 } }
        }
        let gate = Gate()
        let device = VirtioBlock(backend: disk, serial: "gate")
        let q = try SplitVirtqueue(layout: driver.layout, maximumSize: 256, memory: memory,
                                   indirectDescriptors: false, eventIndex: false)
        device.activate(queues: [q], features: device.offeredFeatures, memory: memory, interrupt: gate)
        try memory.store(UInt32(4), at: GuestAddress(Self.header))
        try driver.setDescriptor(0, address: Self.header, length: 16, flags: 1, next: 2)
        try driver.setDescriptor(2, address: Self.status, length: 1, flags: 2)
        try driver.offer(0)
        device.processQueue()
        #expect(driver.usedIndex == 0)
        #expect(disk.calls.withLock { $0 }.isEmpty)
        gate.on.withLock { $0 = true }
        device.processQueue()
        #expect(driver.usedIndex == 1)
        #expect(disk.calls.withLock { $0 } == ["flush"])
    }

    /// An 8 GiB disk of zeros that keeps no data.
    final class SparseDisk: BlockBackend {
        let reads = Mutex(0)
        var size: UInt64 { 8 << 30 }
        var readOnly: Bool { false }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
            reads.withLock { $0 += 1 }
            return true
        }
        func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool { true }
        func flush() -> Bool { true }
        func discard(at offset: UInt64, length: UInt64) -> Bool { true }
        func writeZeroes(at offset: UInt64, length: UInt64) -> Bool { true }
    }

    @Test("a read whose buffers add up to 4 GiB or more gets IOERR before any I/O (it once trapped the VMM)")
    func hugeRead() throws {
        // 33 overlapping 128 MiB buffers: 4.125 GiB in 130 MiB of RAM, as
        // a hostile guest would build it.
        let memory = try GuestMemory(ramSize: 130 << 20)
        var driver = MockDriverQueue(memory: memory, size: 64)
        let disk = SparseDisk()
        let device = VirtioBlock(backend: disk, serial: "huge")
        let q = try SplitVirtqueue(layout: driver.layout, maximumSize: 256, memory: memory,
                                   indirectDescriptors: false, eventIndex: false)
        device.activate(queues: [q], features: device.offeredFeatures, memory: memory, interrupt: irq)
        try memory.store(UInt32(0), at: GuestAddress(Self.header))  // IN
        try memory.store(UInt64(0), at: GuestAddress(Self.header + 8))
        try driver.setDescriptor(0, address: Self.header, length: 16, flags: 1, next: 1)
        for i in 1...33 {
            try driver.setDescriptor(UInt16(i), address: 0x10_0000, length: 128 << 20, flags: 1 | 2, next: UInt16(i + 1))
        }
        try driver.setDescriptor(34, address: Self.status, length: 1, flags: 2)
        try memory.store(UInt8(0xEE), at: GuestAddress(Self.status))
        try driver.offer(0)
        device.processQueue()
        #expect(try memory.load(UInt8.self, at: GuestAddress(Self.status)) == 1)  // VIRTIO_BLK_S_IOERR
        #expect(try driver.usedEntry(0).length == 1)
        #expect(disk.reads.withLock { $0 } == 0)
    }

    @Test("a chain with no status byte goes back untouched; a broken queue is reported")
    mutating func brokenChains() throws {
        try driver.setDescriptor(0, address: Self.header, length: 16, flags: 0)
        try driver.offer(0)
        blk.processQueue()
        #expect(try driver.usedEntry(0) == (0, 0))
        final class Errors: Sendable {
            let list = Mutex([VirtqueueError]())
        }
        let errors = Errors()
        let device = VirtioBlock(backend: disk, serial: "x") { e in errors.list.withLock { $0.append(e) } }
        driver = MockDriverQueue(memory: memory, base: 0x40000)
        try activate(device)
        try driver.offer(300)
        device.processQueue()
        #expect(errors.list.withLock { $0 } == [.headOutOfRange(300)])
    }
}

@Suite("raw disk image backend")
struct RawFileBackendTests {
    let path = NSTemporaryDirectory() + "swiftvmm-disk-\(getpid())-\(UUID().uuidString.prefix(6)).img"

    init() throws {
        try Data(count: 8192).write(to: URL(fileURLWithPath: path))
    }

    @Test("read/write round trip, flush, discard and zeroing; the size is the file's")
    func io() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let b = try RawFileBackend(path: path, readOnly: false)
        #expect(b.size == 8192)
        let data = [UInt8](repeating: 7, count: 512)
        #expect(data.withUnsafeBytes { b.write(at: 1024, from: $0) })
        var back = [UInt8](repeating: 0, count: 512)
        #expect(back.withUnsafeMutableBytes { b.read(at: 1024, into: $0) })
        #expect(back == data)
        #expect(b.flush())
        #expect(b.writeZeroes(at: 1024, length: 512))
        #expect(back.withUnsafeMutableBytes { b.read(at: 1024, into: $0) })
        #expect(back.allSatisfy { $0 == 0 })
        _ = b.discard(at: 0, length: 4096)  // whether holes can be punched depends on the filesystem
        #expect(!back.withUnsafeMutableBytes { b.read(at: 8000, into: $0) })  // short read past the end
    }

    @Test("QEMU's lock bytes: a second writer or a reader is refused while one writes; readers share; file.locking=off")
    func locking() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let first = try RawFileBackend(path: path, readOnly: false)
            #expect(throws: BlockBackendError.locked(path: path, permission: "write", shared: false)) {
                _ = try RawFileBackend(path: path, readOnly: false)
            }
            #expect(throws: BlockBackendError.locked(path: path, permission: "write", shared: true)) {
                _ = try RawFileBackend(path: path, readOnly: true)
            }
            #expect(throws: Never.self) { _ = try RawFileBackend(path: path, readOnly: false, locking: false) }
            _ = first
        }
        let r1 = try RawFileBackend(path: path, readOnly: true)
        let r2 = try RawFileBackend(path: path, readOnly: true)
        #expect(r1.readOnly && r2.readOnly)
        #expect(throws: BlockBackendError.locked(path: path, permission: "write", shared: false)) {
            _ = try RawFileBackend(path: path, readOnly: false)
        }
        #expect(![UInt8](repeating: 1, count: 512).withUnsafeBytes { r1.write(at: 0, from: $0) })
        #expect(throws: BlockBackendError.self) { _ = try RawFileBackend(path: "/nonexistent.img", readOnly: true) }
        #expect(throws: BlockBackendError.notARegularFile(path: "/tmp")) { _ = try RawFileBackend(path: "/tmp", readOnly: true) }
    }
}
