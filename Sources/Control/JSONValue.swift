/// A JSON value as QMP carries it. Objects keep their member order (a reply
/// is written in the order QEMU writes it); numbers keep their literal text,
/// so an `id` is echoed exactly as the client wrote it.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    public static func int(_ v: Int) -> JSONValue { .number(String(v)) }

    /// The value of member `key` of an object (the last one if repeated).
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The JSON type name QEMU uses in its error messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Compact JSON text.
    public var serialized: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let n): out += n
        case .string(let s): JSONValue.writeString(s, to: &out)
        case .array(let items):
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += ", " }
                v.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (i, m) in members.enumerated() {
                if i > 0 { out += ", " }
                JSONValue.writeString(m.key, to: &out)
                out += ": "
                m.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// A string as QEMU's JSON writer spells it (qobject/qjson.c, checked
    /// against QEMU 7.2): the short escapes, then every other character
    /// outside printable ASCII as \\uXXXX in upper-case hex, code points
    /// above U+FFFF as a UTF-16 surrogate pair.
    private static func writeString(_ s: String, to out: inout String) {
        func hex4(_ v: UInt32) {
            let digits = String(v, radix: 16, uppercase: true)
            out += "\\u" + String(repeating: "0", count: 4 - digits.count) + digits
        }
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where u.value >= 0x20 && u.value < 0x7F: out.unicodeScalars.append(u)
            case _ where u.value > 0xFFFF:
                let v = u.value - 0x1_0000
                hex4(0xD800 + (v >> 10))
                hex4(0xDC00 + (v & 0x3FF))
            default: hex4(u.value)
            }
        }
        out += "\""
    }
}

/// One member of a JSON object.
public struct JSONMember: Equatable, Sendable {
    public var key: String
    public var value: JSONValue
    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// Keeps the literal's order.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(elements.map { JSONMember($0.0, $0.1) })
    }
}
