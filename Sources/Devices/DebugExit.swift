import Memory

/// QEMU's isa-debug-exit: a guest write of value v asks the VMM to exit
/// with status (v << 1) | 1, so a test guest passes or fails the same way
/// under QEMU and SwiftVMM. Reads return 0, as in QEMU.
public final class DebugExit: PortIODevice {
    /// QEMU's defaults (hw/misc/debugexit.c): iobase 0x501, iosize 2.
    public static let defaultBase: UInt16 = 0x501
    public static let defaultSize: UInt16 = 2

    private let onExit: @Sendable (Int32) -> Void

    /// `onExit` receives the full status; the process exit truncates it to
    /// 8 bits, as QEMU's exit() does.
    public init(onExit: @escaping @Sendable (Int32) -> Void) {
        self.onExit = onExit
    }

    public static func status(for value: UInt32) -> Int32 {
        Int32(truncatingIfNeeded: (UInt64(value) << 1) | 1)
    }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 { 0 }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        onExit(DebugExit.status(for: value))
    }
}
