/// Parsers for the values of QEMU-style options: sizes ("512M"), numbers
/// ("0xf4", "4"), and key=value lists ("isa-debug-exit,iobase=0xf4").
enum OptionValues {
    /// QEMU's size grammar: a number with an optional B/K/M/G/T suffix
    /// (binary units, case-insensitive); no suffix means `defaultUnit`.
    static func size(_ text: String, defaultUnit: UInt64) -> UInt64? {
        guard let last = text.last else { return nil }
        let units: [Character: UInt64] = ["b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40]
        var digits = Substring(text)
        var unit = defaultUnit
        if let u = units[Character(last.lowercased())] {
            unit = u
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let n = UInt64(digits) else { return nil }
        let (bytes, overflow) = n.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    /// An unsigned integer, decimal or 0x-prefixed hexadecimal.
    static func integer(_ text: String) -> UInt64? {
        let lower = text.lowercased()
        if lower.hasPrefix("0x") { return UInt64(lower.dropFirst(2), radix: 16) }
        return UInt64(lower)
    }

    /// Splits "driver,key=value,flag" into the first item and the key/value
    /// pairs (a bare "flag" maps to "on"). Duplicate keys keep the last one.
    static func keyValueList(_ text: String) -> (first: String, options: [(key: String, value: String)]) {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let options = items.dropFirst().map { item -> (key: String, value: String) in
            if let eq = item.firstIndex(of: "=") {
                return (String(item[..<eq]), String(item[item.index(after: eq)...]))
            }
            return (item, "on")
        }
        return (items.first ?? "", options)
    }

    /// QEMU's rule for ids (util/id.c, id_wellformed): a letter, then
    /// letters, digits, '-', '.' and '_'. Returns the id, or QEMU's error.
    static func identifier(_ id: String, option: String) throws(CommandLineError) -> String {
        let bytes = Array(id.utf8)
        func letter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) }
        func other(_ c: UInt8) -> Bool { letter(c) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E || c == 0x5F }
        guard let first = bytes.first, letter(first), bytes.dropFirst().allSatisfy(other) else {
            throw CommandLineError("\(option): Parameter 'id' expects an identifier "
                                   + "(letters, digits, '-', '.', '_', starting with a letter)")
        }
        return id
    }

    /// QEMU's "Duplicate ID 'x' for KIND" when `ids` repeats one.
    static func requireUnique(_ ids: [String], kind: String) throws(CommandLineError) {
        var seen: Set<String> = []
        for id in ids where !seen.insert(id).inserted {
            throw CommandLineError("Duplicate ID '\(id)' for \(kind)")
        }
    }
}
