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
///
/// Lookups run on every exit, so they take no lock and no reference count:
/// the vCPU reads an immutable `Table` published through an atomic pointer.
/// Registration (at build time, and when a PCI BAR moves) builds a new table
/// under a lock and publishes it; old tables are kept until the bus goes
/// away, since a vCPU may still be reading one. Registrations are rare, so
/// what is kept is small.
public final class AddressBus<Device: Sendable>: Sendable {
    /// One published layout, sorted by base.
    final class Table: Sendable {
        let bases: [UInt64]
        let lasts: [UInt64]  // inclusive, so a range may end at 2^64 - 1
        let devices: [Device]
        let names: [String]

        init(_ entries: [(base: UInt64, last: UInt64, device: Device, name: String)]) {
            let sorted = entries.sorted { $0.base < $1.base }
            bases = sorted.map(\.base)
            lasts = sorted.map(\.last)
            devices = sorted.map(\.device)
            names = sorted.map(\.name)
        }

        var entries: [(base: UInt64, last: UInt64, device: Device, name: String)] {
            (0..<bases.count).map { (bases[$0], lasts[$0], devices[$0], names[$0]) }
        }

        /// Index of the entry covering `address`.
        @inline(__always)
        func index(of address: UInt64) -> Int? {
            var lo = 0, hi = bases.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if bases[mid] <= address { lo = mid + 1 } else { hi = mid }
            }
            return lo > 0 && address <= lasts[lo - 1] ? lo - 1 : nil
        }
    }

    private let current: Atomic<Unmanaged<Table>>
    /// Serialises writers; holds every table ever published (see above).
    private let published: Mutex<[Table]>

    public init() {
        let empty = Table([])
        current = Atomic(Unmanaged.passUnretained(empty))
        published = Mutex([empty])
    }

    /// Adds `device` at [base, base+length). Zero length, a range that wraps,
    /// and any overlap with an existing device are refused.
    public func register(_ device: Device, name: String, base: UInt64, length: UInt64) throws(BusError) {
        guard length > 0 else { throw .emptyRange(name: name) }
        let (last, overflow) = base.addingReportingOverflow(length - 1)
        guard !overflow else { throw .rangeOverflows(name: name, base: base, length: length) }
        let clash: String? = published.withLock { tables in
            let entries = tables[tables.count - 1].entries
            if let e = entries.first(where: { $0.base <= last && base <= $0.last }) { return e.name }
            publish(Table(entries + [(base, last, device, name)]), into: &tables)
            return nil
        }
        if let clash { throw .overlap(name: name, base: base, length: length, existing: clash) }
    }

    /// Removes the device registered at `base`; returns whether one was.
    @discardableResult
    public func unregister(base: UInt64) -> Bool {
        published.withLock { tables in
            var entries = tables[tables.count - 1].entries
            guard let i = entries.firstIndex(where: { $0.base == base }) else { return false }
            entries.remove(at: i)
            publish(Table(entries), into: &tables)
            return true
        }
    }

    private func publish(_ table: Table, into tables: inout [Table]) {
        tables.append(table)  // keeps it alive
        current.store(Unmanaged.passUnretained(table), ordering: .releasing)
    }

    /// Calls `body` with the device covering `address` and the offset into
    /// its range, or returns nil when no device covers it.
    @inline(__always)
    public func withDevice<R>(at address: UInt64, _ body: (Device, UInt64) -> R) -> R? {
        current.load(ordering: .acquiring)._withUnsafeGuaranteedRef { table in
            guard let i = table.index(of: address) else { return nil }
            return body(table.devices[i], address &- table.bases[i])
        }
    }

    /// The device covering `address` and the offset into its range.
    public func find(_ address: UInt64) -> (device: Device, offset: UInt64)? {
        withDevice(at: address) { ($0, $1) }
    }

    /// Names and ranges, for diagnostics.
    public var layout: [(name: String, base: UInt64, length: UInt64)] {
        published.withLock { $0[$0.count - 1].entries.map { ($0.name, $0.base, $0.last - $0.base + 1) } }
    }
}
