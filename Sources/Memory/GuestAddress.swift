/// A guest-physical address. Arithmetic on it is checked, because its value
/// usually comes from the guest.
public struct GuestAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    /// `self + offset`, or nil on overflow.
    @inline(__always)
    public func adding(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    public static func < (a: GuestAddress, b: GuestAddress) -> Bool { a.rawValue < b.rawValue }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}
