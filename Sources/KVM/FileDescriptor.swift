import Glibc

/// An owned file descriptor, closed exactly once when the owner goes away.
public final class OwnedFileDescriptor: @unchecked Sendable {
    // Immutable after init; close happens only in deinit.
    public let rawValue: Int32

    public init(_ rawValue: Int32) { self.rawValue = rawValue }

    deinit { close(rawValue) }
}
