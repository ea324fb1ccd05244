import Devices
import Glibc

/// QEMU's stdio escape: Ctrl-A then x quits, Ctrl-A Ctrl-A sends one Ctrl-A,
/// Ctrl-A h prints help; any other byte after Ctrl-A is sent as is.
public struct ConsoleEscape: Sendable {
    public enum Action: Equatable, Sendable {
        case forward(UInt8)
        case quit
        case help
        case none
    }

    public static let escapeByte: UInt8 = 0x01  // Ctrl-A
    private var afterEscape = false

    public init() {}

    public mutating func feed(_ b: UInt8) -> Action {
        if afterEscape {
            afterEscape = false
            switch b {
            case UInt8(ascii: "x"), UInt8(ascii: "X"): return .quit
            case UInt8(ascii: "h"), UInt8(ascii: "?"): return .help
            default: return .forward(b)
            }
        }
        if b == ConsoleEscape.escapeByte {
            afterEscape = true
            return .none
        }
        return .forward(b)
    }

    public static let helpText = "C-a h    print this help\r\nC-a x    exit swiftvmm\r\nC-a C-a  send C-a\r\n"
}

/// Writes each byte to a file descriptor (stdout, or a -serial file).
public final class FileDescriptorSink: ByteSink {
    private let fd: Int32
    private let ownsFD: Bool

    public init(fd: Int32, ownsFD: Bool) {
        self.fd = fd
        self.ownsFD = ownsFD
    }

    deinit { if ownsFD { close(fd) } }

    public func write(_ byte: UInt8) {
        var b = byte
        while Glibc.write(fd, &b, 1) < 0 && errno == EINTR {}
    }
}

/// Puts a terminal in raw mode (no echo, no line editing, no signals from
/// Ctrl-C) and restores it later, as QEMU's -serial stdio does. Output
/// post-processing stays on so "\n" still starts a new line.
final class RawTerminal {
    private let fd: Int32
    private var saved = termios()
    private var active = false

    init(fd: Int32) { self.fd = fd }

    func enter() {
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return }
        var raw = saved
        cfmakeraw(&raw)
        raw.c_oflag |= tcflag_t(OPOST)
        if tcsetattr(fd, TCSANOW, &raw) == 0 { active = true }
    }

    func restore() {
        guard active else { return }
        tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }
}
