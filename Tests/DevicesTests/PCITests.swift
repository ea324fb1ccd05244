@testable import Devices
import Memory
import Synchronization
import Testing

/// A device with an I/O BAR (0), a 32-bit memory BAR (1) and a 64-bit
/// memory BAR (2-3) that records its register accesses.
final class FakePCIDevice: PCIDeviceModel {
    let log = Mutex([String]())
    var bars: [Int: (kind: PCIBarKind, size: UInt64)] {
        [0: (.io, 32), 1: (.memory32(prefetchable: false), 4096), 2: (.memory64(prefetchable: true), 1 << 20)]
    }
    func barRead(_ bar: Int, offset: UInt64, size: Int) -> UInt64 { UInt64(bar) << 16 | offset }
    func barWrite(_ bar: Int, offset: UInt64, size: Int, value: UInt64) {
        log.withLock { $0.append("bar\(bar)+\(offset)=\(value)") }
    }
}

@Suite("PCI")
struct PCITests {
    let ports = PortIOBus()
    let mmio = MMIOBus()
    let bridge: PCIHostBridge
    let device = FakePCIDevice()
    let slot: Int

    init() throws {
        bridge = PCIHostBridge(ports: ports, mmio: mmio)
        try ports.register(bridge, name: "pci", base: PCIHostBridge.configAddressPort, length: PCIHostBridge.portCount)
        var config = PCIConfigSpace(vendor: 0x1AF4, device: 0x1042, classCode: 0x01_8000)
        config.addCapability(id: 0x09, body: [0xAA, 0xBB])
        config.addCapability(id: 0x11, body: [0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0], writable: [0x00, 0xC0])
        slot = bridge.plug(PCIFunction(name: "fake", config: config, model: device, ports: ports, mmio: mmio)) ?? -1
    }

    func select(_ slot: Int, _ reg: Int) {
        ports.write(port: 0xCF8, size: 4, value: 0x8000_0000 | UInt32(slot) << 11 | UInt32(reg & 0xFC))
    }
    func read(_ slot: Int, _ reg: Int, size: Int = 4) -> UInt32 {
        select(slot, reg)
        return ports.read(port: 0xCFC + UInt16(reg & 3), size: size)
    }
    func write(_ slot: Int, _ reg: Int, _ v: UInt32, size: Int = 4) {
        select(slot, reg)
        ports.write(port: 0xCFC + UInt16(reg & 3), size: size, value: v)
    }

    @Test("mechanism #1: the i440FX host bridge at 00:00.0 with QEMU's subsystem id; empty slots read all-ones")
    func hostBridge() {
        #expect(read(0, 0) == 0x1237_8086)
        #expect(read(0, 0x08) >> 8 == 0x06_0000)
        #expect(read(0, 0x2C) == 0x1100_1AF4)
        #expect(read(0, 0x02, size: 2) == 0x1237)
        #expect(read(0, 0x03, size: 1) == 0x12)
        #expect(read(31, 0) == 0xFFFF_FFFF)
        #expect(slot == 1)
        // Bus 1 and function 1 do not exist; the enable bit is required.
        ports.write(port: 0xCF8, size: 4, value: 0x8001_0000)
        #expect(ports.read(port: 0xCFC, size: 4) == 0xFFFF_FFFF)
        ports.write(port: 0xCF8, size: 4, value: 0x0000_0000)
        #expect(ports.read(port: 0xCFC, size: 4) == 0xFFFF_FFFF)
        ports.write(port: 0xCF8, size: 4, value: 0x8000_0100)
        #expect(ports.read(port: 0xCFC, size: 4) == 0xFFFF_FFFF)
        ports.write(port: 0xCF8, size: 4, value: 0x8000_0000)
        #expect(ports.read(port: 0xCF8, size: 4) == 0x8000_0000)
    }

    @Test("read-only fields ignore writes; the command register keeps its writable bits")
    func masks() {
        write(slot, 0, 0xFFFF_FFFF)
        #expect(read(slot, 0) == 0x1042_1AF4)
        write(slot, 0x04, 0xFFFF, size: 2)
        #expect(read(slot, 0x04, size: 2) == 0x0407)
        write(slot, 0x3C, 0x0B, size: 1)
        #expect(read(slot, 0x3C, size: 1) == 0x0B)
    }

    @Test("BAR sizing: all-ones reads back the size mask with the type bits")
    func barSizing() {
        for bar in 0..<6 { write(slot, 0x10 + 4 * bar, 0xFFFF_FFFF) }
        #expect(read(slot, 0x10) == 0xFFFF_FFE1)          // 32-byte I/O BAR
        #expect(read(slot, 0x14) == 0xFFFF_F000)          // 4 KiB memory BAR
        #expect(read(slot, 0x18) == 0xFFF0_000C)          // 1 MiB 64-bit prefetchable
        #expect(read(slot, 0x1C) == 0xFFFF_FFFF)          // its upper half
        #expect(read(slot, 0x20) == 0)                    // unimplemented
        #expect(read(slot, 0x24) == 0)
    }

    @Test("decode enables map and unmap the BARs; a moved BAR answers at its new address only")
    func barMapping() {
        write(slot, 0x10, 0xC000)
        write(slot, 0x14, 0xFEB0_0000)
        write(slot, 0x18, 0x0000_0000)
        write(slot, 0x1C, 0x0000_0001)  // 64-bit BAR at 4 GiB
        #expect(ports.read(port: 0xC004, size: 1) == 0xFF)  // not decoding yet
        write(slot, 0x04, 0x0003, size: 2)  // I/O + memory
        #expect(ports.read(port: 0xC004, size: 1) == 4)
        #expect(mmio.read(address: 0xFEB0_0010, size: 4) == 1 << 16 | 0x10)
        #expect(mmio.read(address: 0x1_0000_0008, size: 8) == 2 << 16 | 8)
        mmio.write(address: 0xFEB0_0020, size: 4, value: 7)
        #expect(device.log.withLock { $0 } == ["bar1+32=7"])

        write(slot, 0x14, 0xFEC1_0000)  // move
        #expect(mmio.read(address: 0xFEB0_0010, size: 4) == 0xFFFF_FFFF)
        #expect(mmio.read(address: 0xFEC1_0010, size: 4) == 1 << 16 | 0x10)
        write(slot, 0x04, 0x0000, size: 2)  // decode off: everything unmapped
        #expect(mmio.read(address: 0xFEC1_0010, size: 4) == 0xFFFF_FFFF)
        #expect(ports.read(port: 0xC004, size: 1) == 0xFF)
    }

    @Test("a BAR placed over another device stays unmapped instead of failing")
    func barConflict() throws {
        try ports.register(FakePortDevice(), name: "other", base: 0xD000, length: 16)
        write(slot, 0x10, 0xD000)
        write(slot, 0x04, 0x0001, size: 2)
        let f = try #require(bridge.function(slot: slot))
        #expect(f.mappedAddress(bar: 0) == nil)
        write(slot, 0x10, 0xD100)
        #expect(f.mappedAddress(bar: 0) == 0xD100)
    }

    @Test("capability list: status bit, pointer chain, IDs; masked capability bytes")
    func capabilities() {
        #expect(read(slot, 0x06, size: 2) & 0x10 != 0)
        let first = Int(read(slot, 0x34, size: 1))
        #expect(first == 0x40)
        #expect(read(slot, first, size: 1) == 0x09)
        let second = Int(read(slot, first + 1, size: 1))
        #expect(read(slot, second, size: 1) == 0x11)
        #expect(read(slot, second + 1, size: 1) == 0)
        write(slot, second + 2, 0xFFFF, size: 2)
        #expect(read(slot, second + 2, size: 2) == 0xC001)
    }
}

final class FakePortDevice: PortIODevice {
    func ioRead(offset: UInt16, size: Int) -> UInt32 { 0 }
    func ioWrite(offset: UInt16, size: Int, value: UInt32) {}
}

@Suite("PIIX reset control (0xCF9)")
struct ResetControlTests {
    @Test("a byte with RST_CPU at 0xCF9 resets; other bytes and CONFIG_ADDRESS do not")
    func resetControl() throws {
        let ports = PortIOBus(), mmio = MMIOBus()
        let resets = Mutex(0)
        let bridge = PCIHostBridge(ports: ports, mmio: mmio) { resets.withLock { $0 += 1 } }
        try ports.register(bridge, name: "pci", base: PCIHostBridge.configAddressPort, length: PCIHostBridge.portCount)
        ports.write(port: 0xCF9, size: 1, value: 0x02)          // SYS_RST alone: nothing yet
        ports.write(port: 0xCF8, size: 4, value: 0x8000_0400)   // a config address with bit 10 set
        #expect(resets.withLock { $0 } == 0)
        ports.write(port: 0xCF9, size: 1, value: 0x06)          // what Linux's reboot=acpi writes
        #expect(resets.withLock { $0 } == 1)
    }
}
