/// A fixed-capacity FIFO of bytes; never grows, never allocates after init.
struct ByteRing {
    private var storage: [UInt8]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) { storage = [UInt8](repeating: 0, count: capacity) }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == storage.count }

    /// Appends `b`; returns false (and drops it) when full.
    @discardableResult
    mutating func push(_ b: UInt8) -> Bool {
        guard !isFull else { return false }
        storage[(head + count) % storage.count] = b
        count += 1
        return true
    }

    mutating func pop() -> UInt8? {
        guard count > 0 else { return nil }
        let b = storage[head]
        head = (head + 1) % storage.count
        count -= 1
        return b
    }

    mutating func removeAll() {
        head = 0
        count = 0
    }
}
