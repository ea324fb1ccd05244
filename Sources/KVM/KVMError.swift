import Glibc

/// An error from the KVM API: which ioctl (or file) failed and the errno.
public struct KVMError: Error, CustomStringConvertible, Equatable {
    /// The ioctl or call that failed, e.g. "KVM_CREATE_VM".
    public let operation: String
    /// The errno value (positive).
    public let errno: Int32
    /// Extra context, e.g. the expected API version.
    public let detail: String

    public init(_ operation: String, errno: Int32, detail: String = "") {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var errnoText: String { String(cString: strerror(errno)) }

    public var description: String {
        let base = "\(operation) failed: \(errnoText) (errno \(errno))"
        return detail.isEmpty ? base : "\(base); \(detail)"
    }
}

/// Turns a shim result (value or -errno) into a value or a thrown KVMError.
@inline(__always)
func check(_ result: Int32, _ operation: StaticString) throws(KVMError) -> Int32 {
    if result < 0 { throw KVMError("\(operation)", errno: -result) }
    return result
}
