import Memory
import Synchronization

/// Why a virtqueue cannot be used; the device answers by setting
/// DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2), never by trusting the guest.
public enum VirtqueueError: Error, Equatable, CustomStringConvertible {
    case badSize(UInt16, maximum: UInt16)
    case misaligned(String, GuestAddress)
    case outsideMemory(String, GuestAddress, length: UInt64)
    case headOutOfRange(UInt16)
    case availableIndexJump(from: UInt16, to: UInt16)
    case chainTooLong
    case nextOutOfRange(UInt16)
    case descriptorOutsideMemory(GuestAddress, length: UInt32)
    case readableAfterWritable
    case indirectNotNegotiated
    case nestedIndirect
    case indirectWithNext
    case badIndirectTable(length: UInt32)

    public var description: String {
        switch self {
        case let .badSize(s, m): "queue size \(s) is not a power of two from 1 to \(m)"
        case let .misaligned(what, a): "\(what) at \(a) is misaligned"
        case let .outsideMemory(what, a, l): "\(what) at \(a) (\(l) bytes) is outside guest memory"
        case let .headOutOfRange(h): "descriptor head \(h) is past the queue size"
        case let .availableIndexJump(f, t): "available index jumped from \(f) to \(t), more than the queue size"
        case .chainTooLong: "descriptor chain longer than the queue (a loop?)"
        case let .nextOutOfRange(n): "descriptor next \(n) is past the table"
        case let .descriptorOutsideMemory(a, l): "descriptor buffer at \(a) (\(l) bytes) is outside guest memory"
        case .readableAfterWritable: "a device-readable descriptor follows a device-writable one"
        case .indirectNotNegotiated: "indirect descriptor without VIRTIO_F_INDIRECT_DESC"
        case .nestedIndirect: "indirect descriptor inside an indirect table"
        case .indirectWithNext: "descriptor has both INDIRECT and NEXT"
        case let .badIndirectTable(l): "indirect table of \(l) bytes is empty, too large or not a multiple of 16"
        }
    }
}

/// Where the driver put a queue (virtio 1.2 §2.7, split virtqueues).
public struct VirtqueueLayout: Sendable, Equatable {
    public var size: UInt16
    public var descriptorTable: GuestAddress
    public var availableRing: GuestAddress
    public var usedRing: GuestAddress

    public init(size: UInt16, descriptorTable: GuestAddress, availableRing: GuestAddress, usedRing: GuestAddress) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availableRing = availableRing
        self.usedRing = usedRing
    }
}

/// One buffer of a descriptor chain: guest memory the device may read, or write.
public struct VirtqueueBuffer: Sendable, Equatable {
    public let address: GuestAddress
    public let length: UInt32
}

/// A chain taken from the available ring: device-readable buffers first,
/// then device-writable ones (§2.7.4.2).
public struct DescriptorChain: Sendable, Equatable {
    public let head: UInt16
    public var readable: [VirtqueueBuffer] = []
    public var writable: [VirtqueueBuffer] = []
}

/// The device side of a split virtqueue, validating everything the guest
/// wrote: queue size (power of two, at most the maximum), ring placement and
/// alignment, head and next indices, a hop budget of the queue size per chain
/// (loops end), buffers inside guest memory, readable-before-writable, indirect
/// tables (only when negotiated, no nesting, no NEXT with INDIRECT), and
/// available-index jumps larger than the queue. Errors leave the queue
/// unusable: the device then sets NEEDS_RESET.
public final class SplitVirtqueue: @unchecked Sendable {
    // Mutated only by the thread servicing this queue (the device's).
    public let layout: VirtqueueLayout
    private let memory: GuestMemory
    private let indirectAllowed: Bool
    private let eventIndex: Bool
    private var lastAvailable: UInt16 = 0
    private var nextUsed: UInt16 = 0

    static let descriptorSize: UInt64 = 16
    static let flagNext: UInt16 = 1, flagWrite: UInt16 = 2, flagIndirect: UInt16 = 4
    /// An indirect table may hold at most this many descriptors.
    static let maximumIndirect: UInt32 = 1024

    public init(layout: VirtqueueLayout, maximumSize: UInt16, memory: GuestMemory,
                indirectDescriptors: Bool, eventIndex: Bool) throws(VirtqueueError) {
        let n = layout.size
        guard n > 0, n <= maximumSize, n & (n - 1) == 0 else { throw .badSize(n, maximum: maximumSize) }
        // §2.7 alignment: descriptor table 16, available 2, used 4.
        func check(_ what: String, _ a: GuestAddress, align: UInt64, length: UInt64) throws(VirtqueueError) {
            guard a.rawValue % align == 0 else { throw .misaligned(what, a) }
            guard memory.contains(a, length: length) else { throw .outsideMemory(what, a, length: length) }
        }
        let size = UInt64(n)
        try check("descriptor table", layout.descriptorTable, align: 16, length: 16 * size)
        try check("available ring", layout.availableRing, align: 2, length: 6 + 2 * size)
        try check("used ring", layout.usedRing, align: 4, length: 6 + 8 * size)
        self.layout = layout
        self.memory = memory
        self.indirectAllowed = indirectDescriptors
        self.eventIndex = eventIndex
    }

    // Ring fields. The ranges were checked at init, so these reads and writes
    // cannot fail unless guest memory shrank, which it does not; a failure
    // still degrades to an error value, not a crash.
    private func load16(_ a: GuestAddress, _ offset: UInt64) -> UInt16 {
        (try? memory.load(UInt16.self, at: GuestAddress(a.rawValue + offset))) ?? 0
    }

    /// The next chain the driver made available, nil when there is none.
    public func pop() -> Result<DescriptorChain, VirtqueueError>? {
        let available = load16(layout.availableRing, 2)
        // Read the ring entries only after the index (§2.7.13.3.1 ordering).
        atomicMemoryFence(ordering: .acquiring)
        let pending = available &- lastAvailable
        if pending == 0 { return nil }
        if pending > layout.size { return .failure(.availableIndexJump(from: lastAvailable, to: available)) }
        let slot = UInt64(lastAvailable % layout.size)
        let head = load16(layout.availableRing, 4 + 2 * slot)
        lastAvailable &+= 1
        return Result { () throws(VirtqueueError) in try walk(head: head) }
    }

    private func descriptor(table: GuestAddress, index: UInt16) throws(VirtqueueError)
        -> (address: UInt64, length: UInt32, flags: UInt16, next: UInt16) {
        // struct virtq_desc: addr u64, len u32, flags u16, next u16 (little-endian).
        let base = GuestAddress(table.rawValue + SplitVirtqueue.descriptorSize * UInt64(index))
        do {
            let address = try memory.load(UInt64.self, at: base)
            let lengthAndFlags = try memory.load(UInt64.self, at: GuestAddress(base.rawValue + 8))
            return (address, UInt32(truncatingIfNeeded: lengthAndFlags), UInt16(truncatingIfNeeded: lengthAndFlags >> 32),
                    UInt16(truncatingIfNeeded: lengthAndFlags >> 48))
        } catch {
            throw .outsideMemory("descriptor", base, length: 16)
        }
    }

    private func walk(head: UInt16) throws(VirtqueueError) -> DescriptorChain {
        guard head < layout.size else { throw .headOutOfRange(head) }
        var chain = DescriptorChain(head: head)
        var table = layout.descriptorTable
        var tableSize = UInt32(layout.size)
        var index = head
        var budget = Int(layout.size)
        var inIndirect = false
        while true {
            budget -= 1
            if budget < 0 { throw .chainTooLong }
            let d = try descriptor(table: table, index: index)
            if d.flags & SplitVirtqueue.flagIndirect != 0 {
                guard indirectAllowed else { throw .indirectNotNegotiated }
                guard !inIndirect else { throw .nestedIndirect }
                guard d.flags & SplitVirtqueue.flagNext == 0 else { throw .indirectWithNext }
                let count = d.length / 16
                guard d.length > 0, d.length % 16 == 0, count <= SplitVirtqueue.maximumIndirect else {
                    throw .badIndirectTable(length: d.length)
                }
                guard memory.contains(GuestAddress(d.address), length: UInt64(d.length)) else {
                    throw .outsideMemory("indirect table", GuestAddress(d.address), length: UInt64(d.length))
                }
                table = GuestAddress(d.address)
                tableSize = count
                index = 0
                budget = Int(count)
                inIndirect = true
                continue
            }
            guard memory.contains(GuestAddress(d.address), length: UInt64(d.length)) else {
                throw .descriptorOutsideMemory(GuestAddress(d.address), length: d.length)
            }
            let buffer = VirtqueueBuffer(address: GuestAddress(d.address), length: d.length)
            if d.flags & SplitVirtqueue.flagWrite != 0 {
                chain.writable.append(buffer)
            } else {
                guard chain.writable.isEmpty else { throw .readableAfterWritable }
                chain.readable.append(buffer)
            }
            guard d.flags & SplitVirtqueue.flagNext != 0 else { return chain }
            guard UInt32(d.next) < tableSize else { throw .nextOutOfRange(d.next) }
            index = d.next
        }
    }

    /// Gives back the last `count` chains taken with `pop`, unused: they are
    /// still in the available ring, so the next `pop` returns them again.
    /// (virtio-net with MRG_RXBUF takes chains until a frame fits, and gives
    /// them back when the queue runs dry first.)
    public func undoPop(_ count: UInt16) {
        lastAvailable &-= count
    }

    /// Returns a chain to the driver with `written` bytes of device output
    /// (always the head, even for a chain that failed validation, §2.7.8).
    /// With `publish: false` the entry is written but the driver sees it only
    /// at the next `publishUsed` (a frame spread over several chains must
    /// appear at once, §5.1.6.4).
    public func push(head: UInt16, written: UInt32, publish: Bool = true) {
        let slot = UInt64(nextUsed % layout.size)
        let entry = GuestAddress(layout.usedRing.rawValue + 4 + 8 * slot)
        try? memory.store(UInt32(head), at: entry)
        try? memory.store(written, at: GuestAddress(entry.rawValue + 4))
        nextUsed &+= 1
        if publish { publishUsed() }
    }

    /// Makes every pushed entry visible: the used index, after the entries
    /// (§2.7.8.2).
    public func publishUsed() {
        atomicMemoryFence(ordering: .releasing)
        try? memory.store(nextUsed, at: GuestAddress(layout.usedRing.rawValue + 2))
    }

    /// Whether the driver wants an interrupt for what was just pushed:
    /// VIRTIO_F_EVENT_IDX's used_event (§2.7.10), else the NO_INTERRUPT flag.
    public func shouldNotify(previousUsed old: UInt16) -> Bool {
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        if eventIndex {
            let usedEvent = load16(layout.availableRing, 4 + 2 * UInt64(layout.size))
            // vring_need_event: (new - event - 1) < (new - old), mod 2^16.
            return nextUsed &- usedEvent &- 1 < nextUsed &- old
        }
        return load16(layout.availableRing, 0) & 1 == 0
    }

    /// While the device drains the queue anyway, the driver need not notify:
    /// VRING_USED_F_NO_NOTIFY (§2.7.10; with EVENT_IDX, avail_event already
    /// says when). `rearmNotifications` undoes it before the device sleeps.
    public func suppressNotifications() {
        guard !eventIndex else { return }
        try? memory.store(UInt16(1), at: layout.usedRing)
    }

    /// Before the device sleeps: asks the driver to notify about its next
    /// chain (NO_NOTIFY cleared; with EVENT_IDX, avail_event set to what was
    /// taken), then looks once more. True when chains came meanwhile: a
    /// driver that saw the old setting did not notify, so the caller must go
    /// on instead of sleeping (§2.7.10).
    public func rearmNotifications() -> Bool {
        if eventIndex {
            try? memory.store(lastAvailable, at: GuestAddress(layout.usedRing.rawValue + 4 + 8 * UInt64(layout.size)))
        } else {
            try? memory.store(UInt16(0), at: layout.usedRing)
        }
        // The store above must be visible before the index is read again.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        return load16(layout.availableRing, 2) != lastAvailable
    }

    /// The used index as the device last published it.
    public var usedIndex: UInt16 { nextUsed }
}
