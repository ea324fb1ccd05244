import Glibc
import Synchronization

/// A tiny stderr logger: one line per message, "swiftvmm: " prefixed.
/// Level is set once at start-up (`-d` / SWIFTVMM_LOG=debug).
public enum Log {
    public enum Level: Int, Sendable { case error = 0, warning, info, debug }

    private static let level = Atomic<Int>(Level.warning.rawValue)

    public static func setLevel(_ l: Level) { level.store(l.rawValue, ordering: .relaxed) }

    @inline(__always)
    public static var isDebug: Bool { level.load(ordering: .relaxed) >= Level.debug.rawValue }

    public static func debug(_ message: @autoclosure () -> String) { emit(.debug, message) }
    public static func info(_ message: @autoclosure () -> String) { emit(.info, message) }
    public static func warning(_ message: @autoclosure () -> String) { emit(.warning, message) }
    public static func error(_ message: @autoclosure () -> String) { emit(.error, message) }

    private static func emit(_ l: Level, _ message: () -> String) {
        guard level.load(ordering: .relaxed) >= l.rawValue else { return }
        writeLine("swiftvmm: " + message())
    }

    /// Writes one line to stderr in a single write(2).
    public static func writeLine(_ line: String) {
        var s = line
        if !s.hasSuffix("\n") { s += "\n" }
        s.withUTF8 { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(2, buf.baseAddress! + off, buf.count - off)
                if n <= 0 { break }
                off += n
            }
        }
    }
}
