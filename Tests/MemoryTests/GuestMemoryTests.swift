import Memory
import Testing

@Suite("Guest memory")
struct GuestMemoryTests {
    @Test("small RAM is one region at 0")
    func lowOnly() throws {
        let m = try GuestMemory(ramSize: 16 << 20)
        #expect(m.regions.count == 1)
        #expect(m.regions[0].base == GuestAddress(0))
        #expect(m.ramSize == 16 << 20)
    }

    @Test("RAM above 3 GiB continues at 4 GiB, leaving the PCI hole")
    func highSplit() throws {
        let m = try GuestMemory(ramSize: 4 << 30)
        #expect(m.regions.map(\.base.rawValue) == [0, 1 << 32])
        #expect(m.regions.map(\.size) == [3 << 30, 1 << 30])
        #expect(m.contains(GuestAddress((3 << 30) - 8), length: 8))
        #expect(!m.contains(GuestAddress(3 << 30), length: 1))
        #expect(m.contains(GuestAddress((1 << 32) + 100), length: 8))
    }

    @Test("little-endian loads and stores round-trip")
    func loadStore() throws {
        let m = try GuestMemory(ramSize: 4 << 20)
        try m.store(UInt32(0x1122_3344), at: GuestAddress(0x1000))
        #expect(try m.read(count: 4, at: GuestAddress(0x1000)) == [0x44, 0x33, 0x22, 0x11])
        #expect(try m.load(UInt16.self, at: GuestAddress(0x1001)) == 0x2233)
        try m.write([1, 2, 3], at: GuestAddress(0x3FFFFD))
        #expect(try m.read(count: 3, at: GuestAddress(0x3FFFFD)) == [1, 2, 3])
    }

    @Test("out-of-range accesses are errors, and nothing is written")
    func outOfBounds() throws {
        let m = try GuestMemory(ramSize: 4 << 20)
        #expect(throws: MemoryError.outOfBounds(address: 0x3FFFFE, length: 4)) {
            try m.store(UInt32(0xFFFF_FFFF), at: GuestAddress(0x3FFFFE))
        }
        #expect(try m.load(UInt16.self, at: GuestAddress(0x3FFFFE)) == 0)
        #expect(throws: MemoryError.outOfBounds(address: 1 << 40, length: 1)) {
            _ = try m.read(count: 1, at: GuestAddress(1 << 40))
        }
    }

    @Test("address + length overflowing 64 bits is its own error")
    func overflow() throws {
        let m = try GuestMemory(ramSize: 4 << 20)
        #expect(throws: MemoryError.overflow(address: UInt64.max - 1, length: 4)) {
            _ = try m.read(count: 4, at: GuestAddress(UInt64.max - 1))
        }
        #expect(GuestAddress(UInt64.max).adding(1) == nil)
        #expect(GuestAddress(1).adding(2) == GuestAddress(3))
    }

    @Test("an access spanning two regions is refused (no region holds it whole)")
    func spanningRegions() throws {
        let m = try GuestMemory(ramSize: 4 << 30)
        #expect(throws: MemoryError.self) { _ = try m.read(count: 16, at: GuestAddress((3 << 30) - 8)) }
    }

    @Test("ROM regions are readable, not writable by devices, loadable by the VMM")
    func rom() throws {
        let m = try GuestMemory(ramSize: 4 << 20, rom: [(GuestAddress(0xFFFF_F000), [0xEA, 0x5B])])
        #expect(try m.read(count: 2, at: GuestAddress(0xFFFF_F000)) == [0xEA, 0x5B])
        #expect(throws: MemoryError.readOnly(address: 0xFFFF_F000, length: 1)) {
            try m.write([0], at: GuestAddress(0xFFFF_F000))
        }
        try m.loadImage([7], at: GuestAddress(0xFFFF_F001))
        #expect(try m.load(UInt8.self, at: GuestAddress(0xFFFF_F001)) == 7)
        #expect(m.ramSize == 4 << 20)
    }

    @Test("errors read as one line naming the address")
    func descriptions() {
        #expect(MemoryError.outOfBounds(address: 0x1000, length: 4).description
                == "guest access at 0x1000 of 4 bytes is outside guest memory")
    }
}
