/// A guest-physical access that cannot be satisfied. Overflow and
/// out-of-bounds are different cases: the first is a bad length or address
/// arithmetic, the second a range that is not RAM.
public enum MemoryError: Error, CustomStringConvertible, Equatable {
    /// `address + length` does not fit in 64 bits.
    case overflow(address: UInt64, length: UInt64)
    /// Part of [address, address+length) is not backed by guest memory.
    case outOfBounds(address: UInt64, length: UInt64)
    /// The range lies in read-only memory (firmware ROM).
    case readOnly(address: UInt64, length: UInt64)
    /// The host refused to map the guest's memory.
    case mapFailed(size: UInt64, errno: Int32)

    public var description: String {
        switch self {
        case let .overflow(a, l): "guest access at 0x\(hex(a)) of \(l) bytes overflows the address space"
        case let .outOfBounds(a, l): "guest access at 0x\(hex(a)) of \(l) bytes is outside guest memory"
        case let .readOnly(a, l): "guest write at 0x\(hex(a)) of \(l) bytes hits read-only memory"
        case let .mapFailed(s, e): "cannot reserve \(s >> 20) MiB of host memory for the guest (errno \(e))"
        }
    }
}

func hex(_ v: UInt64) -> String { String(v, radix: 16) }
