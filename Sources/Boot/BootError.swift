import Glibc

/// Why a firmware or kernel image cannot be loaded. Each case names the file.
public enum BootError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, errno: Int32)
    /// A directory, device, FIFO or socket where a file is wanted.
    case notARegularFile(path: String, kind: String)
    /// A segment placed where RAM is not loadable (below 1 MiB, over the tables).
    case segmentInReservedArea(path: String, address: UInt64)
    case emptyImage(path: String)
    case imageTooLarge(path: String, size: Int, limit: Int)
    case ramTooSmall(needed: UInt64, available: UInt64)
    /// -kernel is neither an ELF file nor a bzImage.
    case notAKernel(path: String)
    /// The file ends before a structure its header announces.
    case truncatedKernel(path: String, what: String)
    /// A header field we cannot boot with.
    case unsupportedKernel(path: String, why: String)
    case commandLineTooLong(length: Int, limit: Int)
    case initrdTooLarge(path: String, size: UInt64, room: UInt64)
    case kernelDoesNotFit(path: String, needed: UInt64, available: UInt64)

    public var description: String {
        switch self {
        case let .cannotRead(p, e): "cannot read '\(p)': \(String(cString: strerror(e)))"
        case let .notARegularFile(p, k): "'\(p)' is \(k), not a file"
        case let .segmentInReservedArea(p, a):
            "kernel '\(p)' has a segment at 0x\(String(a, radix: 16)), below 1 MiB where the loader's tables and the BIOS area are"
        case let .emptyImage(p): "firmware image '\(p)' is empty"
        case let .imageTooLarge(p, s, l): "firmware image '\(p)' is \(s) bytes; the limit is \(l) bytes (\(l >> 20) MiB)"
        case let .ramTooSmall(n, a): "guest RAM is \(a >> 10) KiB; the firmware needs at least \(n >> 10) KiB"
        case let .notAKernel(p): "'\(p)' is not a Linux kernel: no ELF header and no bzImage 'HdrS' signature"
        case let .truncatedKernel(p, w): "kernel '\(p)' is truncated: \(w)"
        case let .unsupportedKernel(p, w): "kernel '\(p)' cannot be booted: \(w)"
        case let .commandLineTooLong(l, m): "kernel command line is \(l) bytes; the kernel accepts at most \(m)"
        case let .initrdTooLarge(p, s, r):
            "initrd '\(p)' is \(s >> 20) MiB; only \(r >> 20) MiB of guest RAM below the kernel's initrd limit is free (raise -m)"
        case let .kernelDoesNotFit(p, n, a):
            "kernel '\(p)' needs guest RAM up to \(n >> 20) MiB; -m gives \(a >> 20) MiB"
        }
    }
}
