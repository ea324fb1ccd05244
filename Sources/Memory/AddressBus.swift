import Synchronization

/// Why a device could not be placed on a bus.
public enum BusError: Error, CustomStringConvertible, Equatable {
    case emptyRange(name: String)
    case rangeOverflows(name: String, base: UInt64, length: UInt64)
    case overlap(name: String, base: UInt64, length: UInt64, existing: String)

    public var description: String {
        switch self {
        case let .emptyRange(n): "cannot register \(n): zero-length range"
        case let .rangeOverflows(n, b, l): "cannot register \(n) at 0x\(hex(b)) (+0x\(hex(l))): range overflows"
        case let .overlap(n, b, l, e): "cannot register \(n) at 0x\(hex(b)) (+0x\(hex(l))): overlaps \(e)"
        }
    }
}

/// Address-range dispatch shared by the port-I/O and MMIO buses: devices
/// own disjoint ranges [base, base+length) and receive offsets into them.
/// Registration may happen while vCPUs run (PCI BAR moves), so lookups take
/// a lock; it is uncontended on the exit path.
public final class AddressBus<Device: Sendable>: Sendable {
    struct Entry: Sendable {
        let base: UInt64
        let last: UInt64  // inclusive, so a range may end at 2^64
        let device: Device
        let name: String
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    /// Adds `device` at [base, base+length). Zero length, a range that wraps,
    /// and any overlap with an existing device are refused.
    public func register(_ device: Device, name: String, base: UInt64, length: UInt64) throws(BusError) {
        guard length > 0 else { throw .emptyRange(name: name) }
        let (last, overflow) = base.addingReportingOverflow(length - 1)
        guard !overflow else { throw .rangeOverflows(name: name, base: base, length: length) }
        let clash: String? = entries.withLock { list in
            if let e = list.first(where: { $0.base <= last && base <= $0.last }) { return e.name }
            let i = list.firstIndex { $0.base > base } ?? list.count
            list.insert(Entry(base: base, last: last, device: device, name: name), at: i)
            return nil
        }
        if let clash { throw .overlap(name: name, base: base, length: length, existing: clash) }
    }

    /// Removes the device registered at `base`; returns whether one was.
    @discardableResult
    public func unregister(base: UInt64) -> Bool {
        entries.withLock { list in
            guard let i = list.firstIndex(where: { $0.base == base }) else { return false }
            list.remove(at: i)
            return true
        }
    }

    /// The device covering `address` and the offset into its range.
    @inline(__always)
    public func find(_ address: UInt64) -> (device: Device, offset: UInt64)? {
        entries.withLock { list in
            // Binary search for the last entry with base <= address.
            var lo = 0, hi = list.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if list[mid].base <= address { lo = mid + 1 } else { hi = mid }
            }
            guard lo > 0 else { return nil }
            let e = list[lo - 1]
            return address <= e.last ? (e.device, address - e.base) : nil
        }
    }

    /// Names and ranges, for diagnostics.
    public var layout: [(name: String, base: UInt64, length: UInt64)] {
        entries.withLock { $0.map { ($0.name, $0.base, $0.last - $0.base + 1) } }
    }
}
