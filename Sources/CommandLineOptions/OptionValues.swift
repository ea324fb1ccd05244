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
}
