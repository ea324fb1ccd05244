import CLinuxHost
import Glibc

/// Where a virtio-blk device keeps its sectors: a raw image file, or a
/// fake in tests. Offsets and lengths are already validated by the device.
public protocol BlockBackend: AnyObject, Sendable {
    /// Size in bytes.
    var size: UInt64 { get }
    var readOnly: Bool { get }
    func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool
    func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool
    /// Durable on return (fdatasync).
    func flush() -> Bool
    func discard(at offset: UInt64, length: UInt64) -> Bool
    func writeZeroes(at offset: UInt64, length: UInt64) -> Bool
}

public enum BlockBackendError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, errno: Int32)
    /// Another process holds the image with a permission we need (QEMU's text).
    case locked(path: String, permission: String, shared: Bool)
    case cannotLock(path: String, errno: Int32)
    case notARegularFile(path: String)

    public var description: String {
        switch self {
        case let .cannotOpen(p, e): "cannot open disk image '\(p)': \(String(cString: strerror(e)))"
        case let .locked(p, what, shared):
            "disk image '\(p)': Failed to get \(shared ? "shared " : "")\"\(what)\" lock. Is another process using the image [\(p)]?"
        case let .cannotLock(p, e): "disk image '\(p)': cannot lock it: \(String(cString: strerror(e))) (file.locking=off skips locking)"
        case let .notARegularFile(p): "disk image '\(p)' is not a regular file"
        }
    }
}

/// A raw image file: pread/pwrite, fdatasync for flush, fallocate for
/// discard and write-zeroes. Locked as QEMU locks images (ImageLock: OFD
/// byte-range locks on its permission bytes), so neither two VMMs nor a VMM
/// and QEMU can both write it; readers share.
///
/// When its format was probed rather than given (`format=` absent), a write
/// that would make block 0 look like another format (ImageFormat) is
/// refused, as QEMU restricts it: a guest cannot turn a raw image into one
/// that is probed as qcow2 the next time.
public final class RawFileBackend: BlockBackend {
    public let size: UInt64
    public let readOnly: Bool
    private let fd: Int32
    private let guardsBlockZero: Bool

    public init(path: String, readOnly: Bool, formatProbed: Bool = false, locking: Bool = true) throws(BlockBackendError) {
        guardsBlockZero = formatProbed
        // O_NONBLOCK: a FIFO must not block the open (it is refused below).
        let fd = open(path, (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw .notARegularFile(path: path)
        }
        if locking {
            do throws(ImageLock.Conflict) {
                try ImageLock.lockDisk(fd: fd, readOnly: readOnly)
            } catch {
                close(fd)
                switch error {
                case let .held(what, shared): throw .locked(path: path, permission: what, shared: shared)
                case .failed(let e): throw .cannotLock(path: path, errno: e)
                }
            }
        }
        self.fd = fd
        self.size = UInt64(st.st_size)
        self.readOnly = readOnly
    }

    deinit { close(fd) }

    public func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
        RawFileBackend.transferAll(buffer.count) { done in
            pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
        }
    }

    /// The image's first bytes (up to ImageFormat.probeSize), for probing.
    public func header() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(min(size, UInt64(ImageFormat.probeSize))))
        let ok = bytes.withUnsafeMutableBytes { read(at: 0, into: $0) }
        return ok ? bytes : []
    }

    public func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool {
        guard !readOnly else { return false }
        if guardsBlockZero && offset < UInt64(ImageFormat.probeSize) && buffer.count > 0 {
            var block = header()
            block += [UInt8](repeating: 0, count: max(0, ImageFormat.probeSize - block.count))
            let n = min(buffer.count, ImageFormat.probeSize - Int(offset))
            for i in 0..<n { block[Int(offset) + i] = buffer[i] }
            if ImageFormat.detect(block) != nil { return false }
        }
        return RawFileBackend.transferAll(buffer.count) { done in
            pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
        }
    }

    /// Repeats `step(bytesDone)` (a pread or pwrite of the rest) until
    /// `count` bytes moved: short transfers continue, EINTR retries, an
    /// error or end of file fails.
    private static func transferAll(_ count: Int, _ step: (Int) -> Int) -> Bool {
        var done = 0
        while done < count {
            let n = step(done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    public func flush() -> Bool { readOnly || fdatasync(fd) == 0 }

    public func discard(at offset: UInt64, length: UInt64) -> Bool {
        !readOnly && fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, Int(offset), Int(length)) == 0
    }

    public func writeZeroes(at offset: UInt64, length: UInt64) -> Bool {
        guard !readOnly else { return false }
        if fallocate(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, Int(offset), Int(length)) == 0 { return true }
        // Not every filesystem zeroes ranges: write zeros in chunks.
        let chunk = [UInt8](repeating: 0, count: 64 << 10)
        var at = offset
        while at < offset + length {
            let n = Int(min(UInt64(chunk.count), offset + length - at))
            let ok = chunk.withUnsafeBytes { write(at: at, from: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            if !ok { return false }
            at += UInt64(n)
        }
        return true
    }
}
