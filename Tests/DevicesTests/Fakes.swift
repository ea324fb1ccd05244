import Devices
import Memory
import Synchronization

/// An interrupt line that remembers its level and every change.
final class FakeInterruptLine: InterruptLine {
    private let state = Mutex((level: false, changes: [Bool]()))
    func setLevel(_ high: Bool) { state.withLock { $0.level = high; $0.changes.append(high) } }
    var level: Bool { state.withLock { $0.level } }
    var changes: [Bool] { state.withLock { $0.changes } }
}

/// A byte sink that collects what it is given.
final class CollectingSink: ByteSink {
    private let bytes = Mutex([UInt8]())
    func write(_ byte: UInt8) { bytes.withLock { $0.append(byte) } }
    var collected: [UInt8] { bytes.withLock { $0 } }
}
