import Glibc

/// Guest-physical memory: a few host mappings, each at a guest address.
/// Every access is bounds-checked; the host pointers never leave this type
/// except to register the mappings with KVM (`forEachRegion`).
public final class GuestMemory: @unchecked Sendable {
    // The region list is fixed at init. The bytes are shared with the guest
    // and with other threads by nature (like RAM); callers order their own
    // accesses (virtio uses explicit barriers).

    /// One contiguous mapping.
    public struct Region: Sendable {
        public let base: GuestAddress
        public let size: UInt64
        public let readOnly: Bool
        // Host address as an integer so Region stays Sendable and
        // pointer-free in the public view.
        @usableFromInline let host: UInt

        public var end: UInt64 { base.rawValue + size }
    }

    public let regions: [Region]

    /// Where RAM above the PCI hole starts (4 GiB).
    public static let highMemoryBase: UInt64 = 1 << 32
    /// RAM below 4 GiB ends here at most; [3 GiB, 4 GiB) is the PCI and
    /// firmware hole, as on QEMU's pc machine.
    public static let lowMemoryLimit: UInt64 = 3 << 30

    /// Maps `ramSize` bytes of RAM in the PC layout: up to 3 GiB at 0, the
    /// rest at 4 GiB; plus optional read-only regions (firmware) given as
    /// (guest address, contents) with page-aligned address and size.
    public init(ramSize: UInt64, rom: [(base: GuestAddress, contents: [UInt8])] = []) throws(MemoryError) {
        var regions: [Region] = []
        func mapAnonymous(_ size: UInt64) throws(MemoryError) -> UInt {
            guard let p = mmap(nil, Int(size), PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0), p != MAP_FAILED else {
                throw MemoryError.mapFailed(size: size, errno: errno)
            }
            _ = madvise(p, Int(size), MADV_MERGEABLE)
            return UInt(bitPattern: p)
        }
        do {
            let low = min(ramSize, GuestMemory.lowMemoryLimit)
            if low > 0 {
                regions.append(Region(base: GuestAddress(0), size: low, readOnly: false, host: try mapAnonymous(low)))
            }
            if ramSize > low {
                let high = ramSize - low
                regions.append(Region(base: GuestAddress(GuestMemory.highMemoryBase), size: high, readOnly: false,
                                      host: try mapAnonymous(high)))
            }
            for (base, contents) in rom {
                let size = (UInt64(contents.count) + 0xFFF) & ~0xFFF
                let host = try mapAnonymous(size)
                contents.withUnsafeBytes { UnsafeMutableRawPointer(bitPattern: host)!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                regions.append(Region(base: base, size: size, readOnly: true, host: host))
            }
        } catch {
            for r in regions { munmap(UnsafeMutableRawPointer(bitPattern: r.host), Int(r.size)) }
            throw error
        }
        self.regions = regions.sorted { $0.base < $1.base }
    }

    deinit {
        for r in regions { munmap(UnsafeMutableRawPointer(bitPattern: r.host), Int(r.size)) }
    }

    /// Total RAM (read-write regions).
    public var ramSize: UInt64 { regions.filter { !$0.readOnly }.reduce(0) { $0 + $1.size } }

    /// Hands each region's host mapping to `body`, for KVM memory slots only.
    public func forEachRegion(_ body: (Region, UnsafeMutableRawPointer) throws -> Void) rethrows {
        for r in regions { try body(r, UnsafeMutableRawPointer(bitPattern: r.host)!) }
    }

    /// The host pointer for [address, address+length), entirely inside one
    /// region, or the reason it is not.
    @inlinable @inline(__always)
    func resolve(_ address: GuestAddress, _ length: UInt64, forWrite: Bool) throws(MemoryError) -> UnsafeMutableRawPointer {
        let a = address.rawValue
        guard let end = address.adding(length) else { throw .overflow(address: a, length: length) }
        for r in regions where a >= r.base.rawValue && end.rawValue <= r.end {
            if forWrite && r.readOnly { throw .readOnly(address: a, length: length) }
            return UnsafeMutableRawPointer(bitPattern: r.host + UInt(a - r.base.rawValue))!
        }
        throw .outOfBounds(address: a, length: length)
    }

    /// True when the whole range is backed by guest memory.
    public func contains(_ address: GuestAddress, length: UInt64) -> Bool {
        (try? resolve(address, length, forWrite: false)) != nil
    }

    /// Copies guest bytes into `buffer`: all of it, or an error and nothing.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at address: GuestAddress) throws(MemoryError) {
        guard let dst = buffer.baseAddress, buffer.count > 0 else { return }
        let src = try resolve(address, UInt64(buffer.count), forWrite: false)
        dst.copyMemory(from: src, byteCount: buffer.count)
    }

    /// Copies `bytes` into guest memory: all of them, or an error and nothing.
    public func write(_ bytes: UnsafeRawBufferPointer, at address: GuestAddress) throws(MemoryError) {
        guard let src = bytes.baseAddress, bytes.count > 0 else { return }
        let dst = try resolve(address, UInt64(bytes.count), forWrite: true)
        dst.copyMemory(from: src, byteCount: bytes.count)
    }

    public func read(count: Int, at address: GuestAddress) throws(MemoryError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var result: Result<Void, MemoryError> = .success(())
        out.withUnsafeMutableBytes { b in result = Result { () throws(MemoryError) in try read(into: b, at: address) } }
        try result.get()
        return out
    }

    public func write(_ bytes: [UInt8], at address: GuestAddress) throws(MemoryError) {
        var result: Result<Void, MemoryError> = .success(())
        bytes.withUnsafeBytes { b in result = Result { () throws(MemoryError) in try write(b, at: address) } }
        try result.get()
    }

    /// A little-endian integer at `address`. Inlinable, so callers in other
    /// modules get it specialized (no generic metadata on the virtqueue path).
    @inlinable
    public func load<T: FixedWidthInteger>(_ type: T.Type, at address: GuestAddress) throws(MemoryError) -> T {
        let p = try resolve(address, UInt64(MemoryLayout<T>.size), forWrite: false)
        return T(littleEndian: p.loadUnaligned(as: T.self))
    }

    /// Stores a little-endian integer at `address`.
    @inlinable
    public func store<T: FixedWidthInteger>(_ value: T, at address: GuestAddress) throws(MemoryError) {
        let p = try resolve(address, UInt64(MemoryLayout<T>.size), forWrite: true)
        p.storeBytes(of: value.littleEndian, as: T.self)
    }

    /// Writes into a read-only region too: for the VMM loading firmware.
    public func loadImage(_ bytes: [UInt8], at address: GuestAddress) throws(MemoryError) {
        guard !bytes.isEmpty else { return }
        guard let end = address.adding(UInt64(bytes.count)) else {
            throw .overflow(address: address.rawValue, length: UInt64(bytes.count))
        }
        for r in regions where address.rawValue >= r.base.rawValue && end.rawValue <= r.end {
            let dst = UnsafeMutableRawPointer(bitPattern: r.host + UInt(address.rawValue - r.base.rawValue))!
            bytes.withUnsafeBytes { dst.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return
        }
        throw .outOfBounds(address: address.rawValue, length: UInt64(bytes.count))
    }
}
