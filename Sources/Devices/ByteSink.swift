/// Where a character device's output goes (stdout, a file, nothing, or a
/// test buffer).
public protocol ByteSink: Sendable {
    func write(_ byte: UInt8)
}

/// Output that is thrown away (`-serial none`).
public struct DiscardingSink: ByteSink {
    public init() {}
    public func write(_ byte: UInt8) {}
}
