import Memory
import Synchronization
import Testing

/// A port device that records accesses and answers with its offset.
final class RecordingDevice: PortIODevice, MMIODevice {
    let log = Mutex([String]())
    func ioRead(offset: UInt16, size: Int) -> UInt32 { log.withLock { $0.append("r\(offset)/\(size)") }; return UInt32(offset) + 0x100 }
    func ioWrite(offset: UInt16, size: Int, value: UInt32) { log.withLock { $0.append("w\(offset)=\(value)") } }
    func mmioRead(offset: UInt64, size: Int) -> UInt64 { UInt64(offset) }
    func mmioWrite(offset: UInt64, size: Int, value: UInt64) { log.withLock { $0.append("m\(offset)=\(value)") } }
    var entries: [String] { log.withLock { $0 } }
}

@Suite("Buses")
struct BusTests {
    @Test("devices get offsets into their own range")
    func dispatch() throws {
        let bus = PortIOBus()
        let d = RecordingDevice()
        try bus.register(d, name: "dev", base: 0x3F8, length: 8)
        #expect(bus.read(port: 0x3FD, size: 1) == 0x105)
        bus.write(port: 0x3F8, size: 1, value: 65)
        #expect(d.entries == ["r5/1", "w0=65"])
        #expect(bus.unclaimedAccesses == 0)
    }

    @Test("an unclaimed port reads all-ones at its width, drops writes, and is counted")
    func unclaimed() throws {
        let bus = PortIOBus()
        #expect(bus.read(port: 0x80, size: 1) == 0xFF)
        #expect(bus.read(port: 0x80, size: 2) == 0xFFFF)
        #expect(bus.read(port: 0x80, size: 4) == 0xFFFF_FFFF)
        bus.write(port: 0x80, size: 1, value: 0)
        #expect(bus.unclaimedAccesses == 4)
        let mmio = MMIOBus()
        #expect(mmio.read(address: 0xFEC0_0000, size: 8) == UInt64.max)
        #expect(mmio.read(address: 0xFEC0_0000, size: 2) == 0xFFFF)
    }

    @Test("overlapping, empty and wrapping ranges are refused")
    func refusals() throws {
        let bus = PortIOBus()
        let d = RecordingDevice()
        try bus.register(d, name: "first", base: 0x10, length: 8)
        #expect(throws: BusError.overlap(name: "second", base: 0x17, length: 2, existing: "first")) {
            try bus.register(d, name: "second", base: 0x17, length: 2)
        }
        #expect(throws: BusError.overlap(name: "around", base: 0x0, length: 0x100, existing: "first")) {
            try bus.register(d, name: "around", base: 0x0, length: 0x100)
        }
        #expect(throws: BusError.emptyRange(name: "empty")) { try bus.register(d, name: "empty", base: 0x40, length: 0) }
        #expect(throws: BusError.self) { try bus.register(d, name: "past 64K", base: 0xFFFF, length: 2) }
        let mmio = MMIOBus()
        #expect(throws: BusError.rangeOverflows(name: "wrap", base: UInt64.max, length: 2)) {
            try mmio.register(d, name: "wrap", base: UInt64.max, length: 2)
        }
        // Adjacent ranges are fine.
        try bus.register(d, name: "next", base: 0x18, length: 1)
        try bus.register(d, name: "before", base: 0x0F, length: 1)
        #expect(bus.bus.layout.map(\.name) == ["before", "first", "next"])
    }

    @Test("a range may end at the top of the address space; unregister frees it")
    func edgesAndUnregister() throws {
        let mmio = MMIOBus()
        let d = RecordingDevice()
        try mmio.register(d, name: "top", base: UInt64.max - 0xFFF, length: 0x1000)
        #expect(mmio.read(address: UInt64.max, size: 1) == 0xFFF)
        #expect(mmio.bus.unregister(base: UInt64.max - 0xFFF))
        #expect(mmio.read(address: UInt64.max, size: 1) == 0xFF)
        #expect(!mmio.bus.unregister(base: 0x1234))
    }

    @Test("lookup finds the right device among many")
    func manyDevices() throws {
        let bus = AddressBus<Int>()
        for i in 0..<100 { try bus.register(i, name: "d\(i)", base: UInt64(i * 16), length: 8) }
        for i in 0..<100 {
            #expect(bus.find(UInt64(i * 16 + 7))?.device == i)
            #expect(bus.find(UInt64(i * 16 + 8)) == nil)
        }
    }
}
