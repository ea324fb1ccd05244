import Synchronization

/// A reference set once, after the closures that use it were made: devices
/// built before the object they call back into (the i8042's reset before the
/// machine parts, a disk's error path before its transport).
final class LateReference<Value: AnyObject & Sendable>: Sendable {
    private let storage = Mutex<Value?>(nil)

    var value: Value? { storage.withLock { $0 } }

    func set(_ v: Value) { storage.withLock { $0 = v } }
}
