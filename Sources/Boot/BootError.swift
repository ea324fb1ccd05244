import Glibc

/// Why a firmware or kernel image cannot be loaded. Each case names the file.
public enum BootError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, errno: Int32)
    case emptyImage(path: String)
    case imageTooLarge(path: String, size: Int, limit: Int)
    case ramTooSmall(needed: UInt64, available: UInt64)

    public var description: String {
        switch self {
        case let .cannotRead(p, e): "cannot read '\(p)': \(String(cString: strerror(e)))"
        case let .emptyImage(p): "firmware image '\(p)' is empty"
        case let .imageTooLarge(p, s, l): "firmware image '\(p)' is \(s) bytes; the limit is \(l) bytes (\(l >> 20) MiB)"
        case let .ramTooSmall(n, a): "guest RAM is \(a >> 10) KiB; the firmware needs at least \(n >> 10) KiB"
        }
    }
}
