@testable import Devices
import Memory
import Testing

/// The driver's side of a split virtqueue over plain guest memory: writes
/// descriptors and the available ring, reads the used ring (as rust-vmm's
/// virtio-queue mock does).
struct MockDriverQueue {
    let memory: GuestMemory
    let layout: VirtqueueLayout
    var nextAvailable: UInt16 = 0

    init(memory: GuestMemory, size: UInt16 = 8, base: UInt64 = 0x10000) {
        self.memory = memory
        layout = VirtqueueLayout(size: size, descriptorTable: GuestAddress(base),
                                 availableRing: GuestAddress(base + 0x1000), usedRing: GuestAddress(base + 0x2000))
    }

    /// Writes descriptor `index` of `table` (the queue's own by default).
    func setDescriptor(_ index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16 = 0,
                       table: UInt64? = nil) throws {
        let at = GuestAddress((table ?? layout.descriptorTable.rawValue) + 16 * UInt64(index))
        try memory.store(address, at: at)
        try memory.store(length, at: GuestAddress(at.rawValue + 8))
        try memory.store(flags, at: GuestAddress(at.rawValue + 12))
        try memory.store(next, at: GuestAddress(at.rawValue + 14))
    }

    /// Makes `head` available.
    mutating func offer(_ head: UInt16) throws {
        try memory.store(head, at: GuestAddress(layout.availableRing.rawValue + 4 + 2 * UInt64(nextAvailable % layout.size)))
        nextAvailable &+= 1
        try memory.store(nextAvailable, at: GuestAddress(layout.availableRing.rawValue + 2))
    }

    func setAvailableIndex(_ v: UInt16) throws {
        try memory.store(v, at: GuestAddress(layout.availableRing.rawValue + 2))
    }

    var usedIndex: UInt16 { (try? memory.load(UInt16.self, at: GuestAddress(layout.usedRing.rawValue + 2))) ?? 0 }

    func usedEntry(_ i: UInt16) throws -> (id: UInt32, length: UInt32) {
        let at = GuestAddress(layout.usedRing.rawValue + 4 + 8 * UInt64(i % layout.size))
        return (try memory.load(UInt32.self, at: at), try memory.load(UInt32.self, at: GuestAddress(at.rawValue + 4)))
    }
}

@Suite("Split virtqueue")
struct SplitVirtqueueTests {
    let memory: GuestMemory
    var driver: MockDriverQueue

    init() throws {
        memory = try GuestMemory(ramSize: 4 << 20)
        driver = MockDriverQueue(memory: memory)
    }

    func queue(indirect: Bool = true, eventIndex: Bool = false, layout: VirtqueueLayout? = nil,
               maximum: UInt16 = 256) throws -> SplitVirtqueue {
        try SplitVirtqueue(layout: layout ?? driver.layout, maximumSize: maximum, memory: memory,
                           indirectDescriptors: indirect, eventIndex: eventIndex)
    }

    func expectFailure(_ q: SplitVirtqueue, _ error: VirtqueueError, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .failure(let e)? = q.pop() else {
            Issue.record("expected \(error)", sourceLocation: sourceLocation)
            return
        }
        #expect(e == error, sourceLocation: sourceLocation)
    }

    @Test("a readable + writable chain comes out in order; push returns it on the used ring")
    mutating func basicChain() throws {
        let q = try queue()
        try driver.setDescriptor(0, address: 0x20000, length: 16, flags: 1, next: 1)
        try driver.setDescriptor(1, address: 0x21000, length: 512, flags: 1 | 2, next: 2)
        try driver.setDescriptor(2, address: 0x22000, length: 1, flags: 2)
        try driver.offer(0)
        let chain = try #require(try q.pop()?.get())
        #expect(chain.head == 0)
        #expect(chain.readable == [VirtqueueBuffer(address: GuestAddress(0x20000), length: 16)])
        #expect(chain.writable.map(\.length) == [512, 1])
        #expect(q.pop() == nil)
        q.push(head: chain.head, written: 513)
        #expect(driver.usedIndex == 1)
        #expect(try driver.usedEntry(0) == (0, 513))
    }

    @Test("indirect descriptors are followed when negotiated")
    mutating func indirect() throws {
        let q = try queue()
        let table: UInt64 = 0x30000
        try driver.setDescriptor(0, address: 0x20000, length: 8, flags: 1, next: 1, table: table)
        try driver.setDescriptor(1, address: 0x21000, length: 64, flags: 2, table: table)
        try driver.setDescriptor(3, address: table, length: 32, flags: 4)
        try driver.offer(3)
        let chain = try #require(try q.pop()?.get())
        #expect(chain.head == 3)
        #expect(chain.readable.count == 1 && chain.writable.count == 1)
    }

    @Test("queue set-up refusals: size, alignment, rings outside memory")
    func setUpRefusals() throws {
        func layout(size: UInt16 = 8, desc: UInt64 = 0x10000, avail: UInt64 = 0x11000, used: UInt64 = 0x12000) -> VirtqueueLayout {
            VirtqueueLayout(size: size, descriptorTable: GuestAddress(desc), availableRing: GuestAddress(avail),
                            usedRing: GuestAddress(used))
        }
        #expect(throws: VirtqueueError.badSize(0, maximum: 256)) { try queue(layout: layout(size: 0)) }
        #expect(throws: VirtqueueError.badSize(6, maximum: 256)) { try queue(layout: layout(size: 6)) }
        #expect(throws: VirtqueueError.badSize(512, maximum: 256)) { try queue(layout: layout(size: 512)) }
        #expect(throws: VirtqueueError.misaligned("descriptor table", GuestAddress(0x10008))) {
            try queue(layout: layout(desc: 0x10008))
        }
        #expect(throws: VirtqueueError.misaligned("used ring", GuestAddress(0x12002))) { try queue(layout: layout(used: 0x12002)) }
        #expect(throws: VirtqueueError.self) { try queue(layout: layout(desc: (4 << 20) - 16)) }
        #expect(throws: VirtqueueError.self) { try queue(layout: layout(avail: UInt64.max - 1)) }
    }

    @Test("hostile chains: head, next, loops, buffers outside RAM, order, indirect rules")
    mutating func hostileChains() throws {
        // Head past the queue size.
        var q = try queue()
        try driver.offer(9)
        expectFailure(q, .headOutOfRange(9))

        // A loop: 0 -> 1 -> 0.
        driver = MockDriverQueue(memory: memory, base: 0x40000)
        q = try queue()
        try driver.setDescriptor(0, address: 0x20000, length: 4, flags: 1, next: 1)
        try driver.setDescriptor(1, address: 0x20000, length: 4, flags: 1, next: 0)
        try driver.offer(0)
        expectFailure(q, .chainTooLong)

        // next past the table.
        driver = MockDriverQueue(memory: memory, base: 0x50000)
        q = try queue()
        try driver.setDescriptor(0, address: 0x20000, length: 4, flags: 1, next: 200)
        try driver.offer(0)
        expectFailure(q, .nextOutOfRange(200))

        // A buffer whose end is past RAM, and one whose address + length wraps.
        driver = MockDriverQueue(memory: memory, base: 0x60000)
        q = try queue()
        try driver.setDescriptor(0, address: (4 << 20) - 8, length: 16, flags: 0)
        try driver.setDescriptor(1, address: UInt64.max - 4, length: 16, flags: 0)
        try driver.offer(0)
        try driver.offer(1)
        expectFailure(q, .descriptorOutsideMemory(GuestAddress((4 << 20) - 8), length: 16))
        expectFailure(q, .descriptorOutsideMemory(GuestAddress(UInt64.max - 4), length: 16))

        // Readable after writable.
        driver = MockDriverQueue(memory: memory, base: 0x70000)
        q = try queue()
        try driver.setDescriptor(0, address: 0x20000, length: 4, flags: 1 | 2, next: 1)
        try driver.setDescriptor(1, address: 0x20000, length: 4, flags: 0)
        try driver.offer(0)
        expectFailure(q, .readableAfterWritable)

        // Indirect: not negotiated; nested; with NEXT; bad table length.
        driver = MockDriverQueue(memory: memory, base: 0x80000)
        q = try queue(indirect: false)
        try driver.setDescriptor(0, address: 0x30000, length: 16, flags: 4)
        try driver.offer(0)
        expectFailure(q, .indirectNotNegotiated)

        driver = MockDriverQueue(memory: memory, base: 0x90000)
        q = try queue()
        try driver.setDescriptor(0, address: 0x31000, length: 16, flags: 4, table: 0x30000)
        try driver.setDescriptor(0, address: 0x30000, length: 16, flags: 4)
        try driver.setDescriptor(1, address: 0x30000, length: 16, flags: 4 | 1, next: 2)
        try driver.setDescriptor(2, address: 0x30000, length: 20, flags: 4)
        try driver.offer(0)
        try driver.offer(1)
        try driver.offer(2)
        expectFailure(q, .nestedIndirect)
        expectFailure(q, .indirectWithNext)
        expectFailure(q, .badIndirectTable(length: 20))
    }

    @Test("an available index that jumps by more than the queue size is refused")
    func indexJump() throws {
        let q = try queue()
        try driver.setAvailableIndex(9)
        expectFailure(q, .availableIndexJump(from: 0, to: 9))
    }

    @Test("the used ring wraps; EVENT_IDX decides notifications; NO_INTERRUPT without it")
    mutating func usedRingAndNotifications() throws {
        let q = try queue(eventIndex: true)
        try driver.setDescriptor(0, address: 0x20000, length: 4, flags: 2)
        for _ in 0..<10 {
            try driver.offer(0)
            let chain = try #require(try q.pop()?.get())
            q.push(head: chain.head, written: 4)
        }
        #expect(driver.usedIndex == 10)
        // used_event = 9: the driver wants an interrupt when used passes 9.
        try memory.store(UInt16(9), at: GuestAddress(driver.layout.availableRing.rawValue + 4 + 2 * 8))
        #expect(q.shouldNotify(previousUsed: 9))
        #expect(!q.shouldNotify(previousUsed: 10))
        _ = q.rearmNotifications()
        #expect(try memory.load(UInt16.self, at: GuestAddress(driver.layout.usedRing.rawValue + 4 + 8 * 8)) == 10)

        let plain = try queue(layout: MockDriverQueue(memory: memory, base: 0xA0000).layout)
        #expect(plain.shouldNotify(previousUsed: 0))
        try memory.store(UInt16(1), at: GuestAddress(0xA1000))  // VIRTQ_AVAIL_F_NO_INTERRUPT
        #expect(!plain.shouldNotify(previousUsed: 0))
    }
}
