import CKVM

/// The VMM's own time per exit: from KVM_RUN returning to the next KVM_RUN
/// call, recorded into a buffer allocated up front (nothing allocates on the
/// exit path). Off unless `-exit-stats` is given.
final class ExitStats: @unchecked Sendable {
    // Written only by its vCPU thread; read after that thread stopped
    // recording (at VM stop).
    private let samples: UnsafeMutablePointer<UInt32>
    private let capacity: Int
    private(set) var count = 0
    private(set) var firstIONanoseconds: UInt64 = 0

    init(capacity: Int = 1 << 20) {
        self.capacity = capacity
        samples = .allocate(capacity: capacity)
    }

    deinit { samples.deallocate() }

    @inline(__always)
    func record(_ nanoseconds: UInt64) {
        if count < capacity {
            samples[count] = UInt32(clamping: nanoseconds)
            count += 1
        }
    }

    @inline(__always)
    func noteIO(at time: UInt64) {
        if firstIONanoseconds == 0 { firstIONanoseconds = time }
    }

    func sorted() -> [UInt32] {
        Array(UnsafeBufferPointer(start: samples, count: count)).sorted()
    }

    /// "exit-stats: exits=N median_ns=X p99_ns=Y first_io_ns=T" (T is
    /// CLOCK_MONOTONIC, for comparing with a launcher's clock).
    static func summary(_ all: [ExitStats]) -> String {
        let merged = all.flatMap { $0.sorted() }.sorted()
        let firstIO = all.map(\.firstIONanoseconds).filter { $0 > 0 }.min() ?? 0
        func pct(_ p: Double) -> UInt32 {
            merged.isEmpty ? 0 : merged[min(merged.count - 1, Int(Double(merged.count) * p))]
        }
        return "exit-stats: exits=\(merged.count) median_ns=\(pct(0.5)) p99_ns=\(pct(0.99)) first_io_ns=\(firstIO)"
    }
}
