/// Cuts a byte stream into JSON messages without waiting for newlines, as
/// QEMU's json-streamer does: a message ends when its outermost object or
/// array closes (or a top-level scalar ends). So a command with no newline,
/// two commands in one write, and one command split across writes all work.
///
/// Input is bounded: a message longer than `limit` bytes is not kept; the
/// rest of it is skipped (brackets are still counted, so the stream stays in
/// step) and `.tooLarge` is reported once it ends.
///
/// Lexical errors are QEMU's too (qobject/json-lexer.c): a control
/// character inside a string (a raw newline included), or a byte 0xFE/0xFF
/// anywhere. The partial message is dropped and reported (`.lexicalError`,
/// the token so far), then input is skipped, as QEMU's IN_RECOVERY state
/// does, up to a byte where it is safe to start again: a structural
/// character, a control character other than tab, or 0xFE/0xFF. So a
/// client that sent a broken string gets an error and its next command
/// works.
public struct JSONStreamSplitter {
    public enum Message: Equatable {
        case complete([UInt8])
        case tooLarge(Int)
        /// The bytes of the token where the lexer failed (at most 64).
        case lexicalError([UInt8])
    }

    public let limit: Int
    private var buffer: [UInt8] = []
    private var length = 0
    private var depth = 0
    private var inString = false
    private var escaped = false
    private var inScalar = false
    private var recovering = false
    /// The current string token, for the error report.
    private var token: [UInt8] = []

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
            token.removeAll()
        }
        return length > limit ? .tooLarge(length) : .complete(buffer)
    }

    /// A lexical error at byte `b`: report the token, drop the message, recover.
    private mutating func fail(at b: UInt8, into out: inout [Message]) {
        let reported = (inString ? token : []) + [b]
        _ = finish()
        recovering = true
        out.append(.lexicalError(Array(reported.prefix(64))))
    }

    /// Where QEMU's lexer leaves IN_RECOVERY (the byte is then read anew).
    private static func endsRecovery(_ b: UInt8) -> Bool {
        (b < 0x20 && b != 0x09) || b >= 0xFE || b == UInt8(ascii: "{") || b == UInt8(ascii: "}")
            || b == UInt8(ascii: "[") || b == UInt8(ascii: "]")
    }

    private static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

    private mutating func feed(byte b: UInt8, into out: inout [Message]) {
        if recovering {
            guard JSONStreamSplitter.endsRecovery(b) else { return }
            recovering = false
            // Line endings and blanks just end the recovery; other control
            // bytes and 0xFE/0xFF are errors of their own (QEMU: a stray token).
            if JSONStreamSplitter.isSpace(b) { return }
        }
        if b >= 0xFE { return fail(at: b, into: &out) }
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
            // RFC 8259 §7: control characters must be escaped in strings.
            if b < 0x20 { return fail(at: b, into: &out) }
            append(b)
            if token.count < 64 { token.append(b) }
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") {
                inString = false
                if depth == 0 { out.append(finish()) }
            }
            return
        }
        switch b {
        case _ where JSONStreamSplitter.isSpace(b):
            if length > 0 { append(b) }
        case _ where b < 0x20:
            fail(at: b, into: &out)  // not whitespace: a stray control byte
        case UInt8(ascii: "\""):
            inString = true
            token = [b]
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
