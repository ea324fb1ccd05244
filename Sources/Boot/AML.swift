/// A small encoder for ACPI Machine Language (ACPI 6.4 chapter 20, "ACPI
/// Machine Language Specification"), enough for a static DSDT: names,
/// scopes, devices, integers, strings, EISA ids, packages and buffers.
/// Each value is the AML bytes of one term; `AML.Term` composes them.
public enum AML {
    /// One encoded term (a DataRefObject, a NamedObj, a scope ...).
    public struct Term: Equatable, Sendable {
        public let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
    }

    // Opcodes, §20.2.3 (data objects), §20.2.5 (named objects).
    static let zeroOp: UInt8 = 0x00, oneOp: UInt8 = 0x01, onesOp: UInt8 = 0xFF
    static let bytePrefix: UInt8 = 0x0A, wordPrefix: UInt8 = 0x0B, dwordPrefix: UInt8 = 0x0C
    static let stringPrefix: UInt8 = 0x0D, qwordPrefix: UInt8 = 0x0E
    static let nameOp: UInt8 = 0x08, scopeOp: UInt8 = 0x10, bufferOp: UInt8 = 0x11, packageOp: UInt8 = 0x12
    static let extOpPrefix: UInt8 = 0x5B, deviceOp: UInt8 = 0x82
    static let rootChar: UInt8 = 0x5C, dualNamePrefix: UInt8 = 0x2E, multiNamePrefix: UInt8 = 0x2F

    /// An integer in the shortest encoding (§20.2.3, ComputationalData).
    public static func integer(_ v: UInt64) -> Term {
        switch v {
        case 0: Term([zeroOp])
        case 1: Term([oneOp])
        case ...0xFF: Term([bytePrefix, UInt8(v)])
        case ...0xFFFF: Term([wordPrefix] + le(UInt16(v)))
        case ...0xFFFF_FFFF: Term([dwordPrefix] + le(UInt32(v)))
        default: Term([qwordPrefix] + le(v))
        }
    }

    /// A string constant (ASCII, no NUL inside).
    public static func string(_ s: String) -> Term {
        precondition(s.utf8.allSatisfy { $0 > 0 && $0 < 0x80 }, "AML strings are ASCII without NUL")
        return Term([stringPrefix] + Array(s.utf8) + [0])
    }

    /// A compressed EISA id such as "PNP0A03" (§6.1.5): three letters in 5
    /// bits each and four hex digits, stored as a big-endian 32-bit value.
    public static func eisaID(_ id: String) -> Term {
        let c = Array(id.utf8)
        precondition(c.count == 7 && c[0..<3].allSatisfy { $0 >= 0x41 && $0 <= 0x5A }, "EISA id: 3 capitals + 4 hex digits")
        let letters = UInt32(c[0] - 0x40) << 10 | UInt32(c[1] - 0x40) << 5 | UInt32(c[2] - 0x40)
        guard let product = UInt32(String(decoding: c[3...], as: UTF8.self), radix: 16) else {
            preconditionFailure("EISA id: 4 hex digits")
        }
        let value = letters << 16 | product
        return Term([dwordPrefix] + le(value.bigEndian))
    }

    /// Name(name, value) (§20.2.5.1, DefName).
    public static func name(_ name: String, _ value: Term) -> Term {
        Term([nameOp] + nameString(name) + value.bytes)
    }

    /// Scope(name) { terms } (§20.2.5.1, DefScope).
    public static func scope(_ name: String, _ terms: [Term]) -> Term {
        Term([scopeOp] + packageLength(nameString(name) + terms.flatMap(\.bytes)))
    }

    /// Device(name) { terms } (§20.2.5.2, DefDevice).
    public static func device(_ name: String, _ terms: [Term]) -> Term {
        Term([extOpPrefix, deviceOp] + packageLength(nameString(name) + terms.flatMap(\.bytes)))
    }

    /// Package() { elements } (§20.2.5.4, DefPackage; at most 255 elements).
    public static func package(_ elements: [Term]) -> Term {
        precondition(elements.count <= 255, "a Package holds at most 255 elements (VarPackage beyond)")
        return Term([packageOp] + packageLength([UInt8(elements.count)] + elements.flatMap(\.bytes)))
    }

    /// Buffer() { bytes } (§20.2.5.4, DefBuffer).
    public static func buffer(_ bytes: [UInt8]) -> Term {
        Term([bufferOp] + packageLength(integer(UInt64(bytes.count)).bytes + bytes))
    }

    /// PkgLength (§20.2.4): the length of itself plus `body`, in 1 to 4
    /// bytes; bits 7-6 of the lead byte count the bytes that follow.
    static func packageLength(_ body: [UInt8]) -> [UInt8] {
        let n = body.count
        if n + 1 <= 0x3F { return [UInt8(n + 1)] + body }
        for extra in 1...3 {
            let total = n + 1 + extra
            if total < 1 << (4 + 8 * extra) {
                var lead = [UInt8(extra << 6 | (total & 0x0F))]
                for i in 0..<extra { lead.append(UInt8(truncatingIfNeeded: total >> (4 + 8 * i))) }
                return lead + body
            }
        }
        preconditionFailure("AML package over 256 MiB")
    }

    /// NameString (§20.2.2): a leading `\`, then one or more 4-character
    /// segments separated by dots (short segments padded with `_`).
    static func nameString(_ path: String) -> [UInt8] {
        var rest = Substring(path)
        var prefix: [UInt8] = []
        if rest.first == "\\" { prefix = [rootChar]; rest = rest.dropFirst() }
        let segments = rest.split(separator: ".", omittingEmptySubsequences: false).map { segment -> [UInt8] in
            let s = Array(segment.utf8)
            precondition(!s.isEmpty && s.count <= 4 && (s[0] == 0x5F || (s[0] >= 0x41 && s[0] <= 0x5A)),
                         "AML name segment '\(segment)'")
            return s + [UInt8](repeating: 0x5F, count: 4 - s.count)
        }
        switch segments.count {
        case 0: return prefix + [0]   // NullName
        case 1: return prefix + segments[0]
        case 2: return prefix + [dualNamePrefix] + segments[0] + segments[1]
        default: return prefix + [multiNamePrefix, UInt8(segments.count)] + segments.flatMap { $0 }
        }
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

/// Resource data for _CRS buffers (ACPI 6.4 §6.4, "Resource Data Types
/// for ACPI"). Each function gives one descriptor's bytes; `template`
/// appends the End Tag.
public enum AMLResource {
    /// I/O Port descriptor (§6.4.2.5), 16-bit decode, fixed base.
    public static func io(base: UInt16, length: UInt8, alignment: UInt8 = 1) -> [UInt8] {
        [0x47, 0x01] + AML.le(base) + AML.le(base) + [alignment, length]
    }

    /// IRQ descriptor without flags (§6.4.2.1): edge-triggered, active high.
    public static func irq(_ irq: UInt8) -> [UInt8] {
        precondition(irq < 16, "the IRQ descriptor holds ISA IRQs 0-15")
        return [0x22] + AML.le(UInt16(1) << irq)
    }

    /// General flags of an address space descriptor (§6.4.3.5.1, Table
    /// 6.44): a producer (a bridge window) with fixed minimum and maximum,
    /// positive decode.
    static let producerFixedWindow: UInt8 = 1 << 3 | 1 << 2

    /// Word Address Space descriptor (§6.4.3.5.3) for the bus-number range
    /// (resource type 2).
    public static func busNumbers(_ range: ClosedRange<UInt16>) -> [UInt8] {
        wordAddress(type: 2, typeFlags: 0, range)
    }

    /// Word Address Space descriptor for an I/O window (type 1; type flags
    /// 3 = ISA and non-ISA ranges).
    public static func ioWindow(_ range: ClosedRange<UInt16>) -> [UInt8] {
        wordAddress(type: 1, typeFlags: 3, range)
    }

    /// DWord Address Space descriptor (§6.4.3.5.2) for a 32-bit memory window
    /// (type 0; type flags: read-write, non-cacheable).
    public static func memoryWindow32(_ range: ClosedRange<UInt32>) -> [UInt8] {
        [0x87] + AML.le(UInt16(23)) + [0, producerFixedWindow, 0x01] + AML.le(UInt32(0)) + AML.le(range.lowerBound)
            + AML.le(range.upperBound) + AML.le(UInt32(0)) + AML.le(range.upperBound - range.lowerBound + 1)
    }

    /// QWord Address Space descriptor (§6.4.3.5.1) for a 64-bit memory window.
    public static func memoryWindow64(_ range: ClosedRange<UInt64>) -> [UInt8] {
        [0x8A] + AML.le(UInt16(43)) + [0, producerFixedWindow, 0x01] + AML.le(UInt64(0)) + AML.le(range.lowerBound)
            + AML.le(range.upperBound) + AML.le(UInt64(0)) + AML.le(range.upperBound - range.lowerBound + 1)
    }

    static func wordAddress(type: UInt8, typeFlags: UInt8, _ range: ClosedRange<UInt16>) -> [UInt8] {
        let length = UInt16(truncatingIfNeeded: Int(range.upperBound) - Int(range.lowerBound) + 1)
        return [0x88] + AML.le(UInt16(13)) + [type, producerFixedWindow, typeFlags] + AML.le(UInt16(0))
            + AML.le(range.lowerBound) + AML.le(range.upperBound) + AML.le(UInt16(0)) + AML.le(length)
    }

    /// ResourceTemplate() { descriptors }: the descriptors and an End Tag
    /// (§6.4.2.9; checksum 0 = "treat as valid").
    public static func template(_ descriptors: [[UInt8]]) -> AML.Term {
        AML.buffer(descriptors.flatMap { $0 } + [0x79, 0x00])
    }
}
