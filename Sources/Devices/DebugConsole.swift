import Memory

/// QEMU's isa-debugcon: every byte written to its port goes to a sink
/// (SeaBIOS writes its log to 0x402; Bochs-style guests use 0xE9). A read
/// returns 0xE9, which guests use to detect the port, as QEMU does.
public final class DebugConsole: PortIODevice {
    public static let defaultPort: UInt16 = 0xE9
    private let sink: any ByteSink

    public init(sink: any ByteSink) { self.sink = sink }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 { 0xE9 }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        sink.write(UInt8(truncatingIfNeeded: value))
    }
}
