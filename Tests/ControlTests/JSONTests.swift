import Control
import Testing

@Suite("JSON parser")
struct JSONParserTests {
    @Test("values round-trip, member order and number text kept")
    func roundTrip() throws {
        let text = #"{"b": [1, -2.5e3, true, false, null], "a": "x\"y\\z\n", "id": 0.10}"#
        let v = try JSONParser.parse(text)
        #expect(v.serialized == text)
        #expect(v["id"] == .number("0.10"))
        #expect(v["a"]?.stringValue == "x\"y\\z\n")
    }

    @Test("unicode escapes, surrogate pairs, raw UTF-8")
    func unicode() throws {
        #expect(try JSONParser.parse(#""\u00e9\ud83d\ude00""#) == .string("é😀"))
        #expect(try JSONParser.parse(Array("\"é😀\"".utf8)) == .string("é😀"))
    }

    @Test("malformed input is refused", arguments: [
        "{", "}", "{\"a\"}", "{\"a\":1,}", "[1 2]", "tru", "01", "1.", "-", "\"abc", "\"\\x\"", "{'a':1}",
        "\"\\ud800\"", "\"a\u{01}b\"", "{} {}", "nul",
    ])
    func malformed(text: String) {
        #expect(throws: JSONParser.ParseError.self) { try JSONParser.parse(text) }
    }

    @Test("invalid UTF-8 is refused: stray continuation, overlong, surrogate, truncated")
    func invalidUTF8() {
        for bytes: [UInt8] in [[0x22, 0x80, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
                               [0x22, 0xE2, 0x82, 0x22], [0xFF]] {
            #expect(throws: JSONParser.ParseError.self) { try JSONParser.parse(bytes) }
        }
    }

    @Test("nesting is limited")
    func depth() {
        let deep = String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000)
        #expect(throws: JSONParser.ParseError.self) { try JSONParser.parse(deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONParser.parse(ok) }
    }

    @Test("control characters are escaped on output")
    func escaping() {
        #expect(JSONValue.string("a\u{01}\r\t").serialized == #""a\u0001\r\t""#)
        // As QEMU 7.2 echoes the id "a\b\f\u0001\u001f/\u00e9\ud83d\ude00" (measured):
        // short escapes, upper-case hex, everything past ASCII escaped,
        // a surrogate pair above U+FFFF.
        #expect(JSONValue.string("a\u{08}\u{0C}\u{01}\u{1F}/é😀\u{7F}").serialized
                == #""a\b\f\u0001\u001F/\u00E9\uD83D\uDE00\u007F""#)
    }
}

@Suite("JSON stream splitter")
struct JSONStreamSplitterTests {
    func texts(_ messages: [JSONStreamSplitter.Message]) -> [String] {
        messages.map {
            switch $0 {
            case .complete(let b): String(decoding: b, as: UTF8.self)
            case .tooLarge(let n): "<\(n)>"
            case .lexicalError(let t): "!" + String(decoding: t, as: UTF8.self)
            }
        }
    }

    @Test("no newline needed; two messages in one write; one split across writes")
    func framing() {
        var s = JSONStreamSplitter()
        #expect(texts(s.feed(Array(#"{"a":1}"#.utf8))) == [#"{"a":1}"#])
        #expect(texts(s.feed(Array(#"{"a":1}{"b":[2]}"#.utf8))) == [#"{"a":1}"#, #"{"b":[2]}"#])
        #expect(texts(s.feed(Array(#"{"a":"}"#.utf8))).isEmpty)
        #expect(s.hasPartialMessage)
        #expect(texts(s.feed(Array(#"{"}"#.utf8))) == [#"{"a":"}{"}"#])
    }

    @Test("braces inside strings and escaped quotes do not end a message")
    func strings() {
        var s = JSONStreamSplitter()
        #expect(texts(s.feed(Array(#" {"x":"}\"{"} "#.utf8))) == [#"{"x":"}\"{"}"#])
    }

    @Test("top-level scalars and stray closers come out as messages (they fail to parse later)")
    func scalars() {
        var s = JSONStreamSplitter()
        #expect(texts(s.feed(Array("42 \"s\" ]{}".utf8))) == ["42", "\"s\"", "]", "{}"])
    }

    @Test("an oversized message is dropped, reported once, and the stream stays in step")
    func limit() {
        var s = JSONStreamSplitter(limit: 16)
        let big = #"{"a":""# + String(repeating: "x", count: 100) + #"","b":{"c":1}}"#
        let out = texts(s.feed(Array((big + #"{"ok":1}"#).utf8)))
        #expect(out == ["<\(big.utf8.count)>", #"{"ok":1}"#])
    }
}
