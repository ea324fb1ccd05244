import Glibc

/// Reads a whole regular file, refusing anything larger than `limit` bytes
/// before reading it (so a huge or endless file costs nothing).
/// Returns the bytes, or the size when it is over the limit.
public enum FileReader {
    public enum Outcome: Equatable {
        case contents([UInt8])
        case tooLarge(Int)
    }

    public static func read(_ path: String, limit: Int) throws(BootError) -> Outcome {
        // O_NONBLOCK: opening a FIFO must not wait for a writer (it is
        // refused below); it changes nothing for a regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .cannotRead(path: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .cannotRead(path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notARegularFile(path: path, kind: kind(of: st.st_mode)) }
        let size = Int(st.st_size)
        if size > limit { return .tooLarge(size) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .cannotRead(path: path, errno: errno)
            }
            if n == 0 { break }  // file shrank while we read it
            done += n
        }
        if done < size { bytes.removeLast(size - done) }
        return .contents(bytes)
    }

    /// What a non-regular file is, in words (stat(2) st_mode types).
    static func kind(of mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        default: "not a regular file"
        }
    }
}
