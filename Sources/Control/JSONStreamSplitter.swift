/// Cuts a byte stream into JSON messages without waiting for newlines, as
/// QEMU's json-streamer does: a message ends when its outermost object or
/// array closes (or a top-level scalar ends). So a command with no newline,
/// two commands in one write, and one command split across writes all work.
///
/// Input is bounded: a message longer than `limit` bytes is not kept; the
/// rest of it is skipped (brackets are still counted, so the stream stays in
/// step) and `.tooLarge` is reported once it ends.
public struct JSONStreamSplitter {
    public enum Message: Equatable {
        case complete([UInt8])
        case tooLarge(Int)
    }

    public let limit: Int
    private var buffer: [UInt8] = []
    private var length = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var inScalar = false

    public init(limit: Int = 64 << 10) { self.limit = limit }

    /// True when part of a message is waiting for more bytes.
    public var hasPartialMessage: Bool { length > 0 }

    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Message] {
        var out: [Message] = []
        for b in bytes { feed(byte: b, into: &out) }
        return out
    }

    private mutating func append(_ b: UInt8) {
        length += 1
        if length <= limit { buffer.append(b) } else if !buffer.isEmpty { buffer.removeAll() }
    }

    private mutating func finish() -> Message {
        defer {
            buffer.removeAll(keepingCapacity: buffer.count <= 4096)
            length = 0
            depth = 0
            inString = false
            escaped = false
            inScalar = false
        }
        return length > limit ? .tooLarge(length) : .complete(buffer)
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private mutating func feed(byte b: UInt8, into out: inout [Message]) {
        if inScalar {
            // A top-level scalar ends at whitespace or a structural byte,
            // which then starts the next message.
            guard JSONStreamSplitter.isSpace(b) || b == UInt8(ascii: "{") || b == UInt8(ascii: "[")
                || b == UInt8(ascii: "}") || b == UInt8(ascii: "]") || b == UInt8(ascii: "\"") else {
                append(b)
                return
            }
            out.append(finish())
        }
        if inString {
            append(b)
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") {
                inString = false
                if depth == 0 { out.append(finish()) }
            }
            return
        }
        switch b {
        case _ where JSONStreamSplitter.isSpace(b):
            if length > 0 { append(b) }
        case UInt8(ascii: "\""):
            inString = true
            append(b)
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            append(b)
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            append(b)
            depth -= 1
            if depth <= 0 { out.append(finish()) }  // an unbalanced close too: a parse error later
        default:
            append(b)
            if depth == 0 { inScalar = true }
        }
    }
}
