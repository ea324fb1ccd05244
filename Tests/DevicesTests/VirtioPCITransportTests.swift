@testable import Devices
import Memory
import Synchronization
import Testing

/// A virtio device that records what the transport did to it.
final class FakeVirtioDevice: VirtioDevice {
    let events = Mutex([String]())
    var deviceType: UInt16 { 2 }
    var offeredFeatures: UInt64 { VirtioFeature.version1 | VirtioFeature.eventIndex | 1 << 9 }
    var queueMaxSizes: [UInt16] { [256, 128] }
    func configRead(offset: Int, size: Int) -> UInt64 { UInt64(0xC0 + offset) }
    func configWrite(offset: Int, size: Int, value: UInt64) { log("config \(offset)=\(value)") }
    func activate(queues: [SplitVirtqueue], features: UInt64, memory: GuestMemory, interrupt: any VirtioInterrupt) {
        log("activate \(queues.map(\.layout.size)) features=0x\(String(features, radix: 16))")
        activeInterrupt.withLock { $0 = interrupt }
    }
    func queueNotified(_ index: Int) { log("notify \(index)") }
    func reset() { log("reset") }
    func log(_ s: String) { events.withLock { $0.append(s) } }
    var log: [String] { events.withLock { $0 } }
    let activeInterrupt = Mutex<(any VirtioInterrupt)?>(nil)
}

final class RecordingMSI: MSISender {
    let sent = Mutex([(UInt64, UInt32)]())
    func send(address: UInt64, data: UInt32) { sent.withLock { $0.append((address, data)) } }
    var count: Int { sent.withLock { $0.count } }
    var last: (UInt64, UInt32)? { sent.withLock { $0.last } }
}

@Suite("virtio-pci transport")
struct VirtioPCITransportTests {
    let memory: GuestMemory
    let device = FakeVirtioDevice()
    let msi = RecordingMSI()
    let intx = FakeInterruptLine()
    let transport: VirtioPCITransport
    let function: PCIFunction

    init() throws {
        memory = try GuestMemory(ramSize: 4 << 20)
        transport = VirtioPCITransport(device: device, memory: memory, msi: msi, intx: intx)
        function = PCIFunction(name: "virtio", config: transport.configSpace(), model: transport,
                               ports: PortIOBus(), mmio: MMIOBus())
    }

    func common(_ o: UInt64, _ v: UInt64, size: Int = 4) { transport.barWrite(4, offset: o, size: size, value: v) }
    func common(_ o: UInt64, size: Int = 4) -> UInt64 { transport.barRead(4, offset: o, size: size) }
    var status: UInt8 { UInt8(common(0x14, size: 1)) }

    /// Negotiates `features`, sets up queue 0 at a valid layout, returns the status after DRIVER_OK.
    func bringUp(features: UInt64 = VirtioFeature.version1, queueSize: UInt64 = 8) -> UInt8 {
        common(0x14, 1, size: 1)
        common(0x14, 3, size: 1)
        common(0x08, 0); common(0x0C, features & 0xFFFF_FFFF)
        common(0x08, 1); common(0x0C, features >> 32)
        common(0x14, 11, size: 1)
        common(0x16, 0, size: 2)
        common(0x18, queueSize, size: 2)
        common(0x20, 0x10000); common(0x28, 0x11000); common(0x30, 0x12000)
        common(0x1C, 1, size: 2)
        common(0x14, 15, size: 1)
        return status
    }

    @Test("PCI identity and the capability chain: common, ISR, device, notify, MSI-X")
    func identity() {
        let c = function.config
        #expect(c.read16(0) == 0x1AF4 && c.read16(2) == 0x1042)
        #expect(c.read8(PCIConfigSpace.revisionID) == 1)
        var p = Int(c.read8(0x34))
        var types: [UInt8] = []
        var msix = false
        while p != 0 {
            if c.read8(p) == 0x09 {
                types.append(c.read8(p + 3))
                if c.read8(p + 3) != 5 { #expect(c.read8(p + 4) == 4) }  // the PCI_CFG window starts unset
            }
            if c.read8(p) == 0x11 { msix = true; #expect(c.read16(p + 2) & 0x7FF == 2) }
            p = Int(c.read8(p + 1))
        }
        #expect(types == [1, 3, 4, 2, 5])
        #expect(msix)
    }

    @Test("features: offered in two halves; FEATURES_OK needs VERSION_1 and no unoffered bit")
    func features() {
        common(0x00, 1)
        #expect(common(0x04) == 1)  // VERSION_1 is bit 32
        common(0x00, 0)
        #expect(common(0x04) == 1 << 29 | 1 << 9)
        // Without VERSION_1: refused.
        common(0x14, 3, size: 1)
        common(0x08, 0); common(0x0C, 1 << 9)
        common(0x14, 11, size: 1)
        #expect(status & 8 == 0)
        // An unoffered bit: refused.
        common(0x08, 1); common(0x0C, 1 | 1 << 3)
        common(0x14, 11, size: 1)
        #expect(status & 8 == 0)
        // A subset with VERSION_1: accepted.
        common(0x0C, 1)
        common(0x14, 11, size: 1)
        #expect(status & 8 == 8)
    }

    @Test("DRIVER_OK activates the validated queues; notifications reach the device")
    func activation() {
        #expect(bringUp(features: VirtioFeature.version1 | VirtioFeature.eventIndex) == 15)
        #expect(device.log == ["activate [8] features=0x120000000"])
        transport.barWrite(4, offset: 0x3000, size: 2, value: 0)
        transport.barWrite(4, offset: 0x3004, size: 2, value: 1)  // queue 1 never enabled: ignored
        #expect(device.log.suffix(1) == ["notify 0"])
        #expect(common(0x12, size: 2) == 2)
        #expect(transport.barRead(4, offset: 0x2004, size: 1) == 0xC4)
    }

    @Test("a bad queue (size 6) or DRIVER_OK without FEATURES_OK sets NEEDS_RESET, never activates")
    func badSetUp() {
        #expect(bringUp(queueSize: 6) & 64 == 64)
        #expect(!device.log.contains { $0.hasPrefix("activate") })
        common(0x14, 0, size: 1)
        #expect(status == 0)
        common(0x14, 3, size: 1)
        common(0x14, 7, size: 1)  // DRIVER_OK, no FEATURES_OK
        #expect(status & 64 == 64)
    }

    @Test("queue registers freeze after DRIVER_OK; status 0 resets the device")
    func resetAndFreeze() {
        _ = bringUp()
        common(0x18, 16, size: 2)
        #expect(common(0x18, size: 2) == 8)
        common(0x14, 0, size: 1)
        #expect(device.log.last == "reset")
        #expect(status == 0)
        #expect(common(0x18, size: 2) == 256)  // max size again
        common(0x08, 1)
        #expect(common(0x0C) == 0)
    }

    @Test("bus mastering off: the device is told it may not touch guest memory")
    func busMaster() throws {
        _ = bringUp()
        let irq = try #require(device.activeInterrupt.withLock { $0 })
        #expect(!irq.mayAccessMemory)
        function.configWrite(offset: PCIConfigSpace.command, size: 2, value: 0x6)
        #expect(irq.mayAccessMemory)
        function.configWrite(offset: PCIConfigSpace.command, size: 2, value: 0x2)
        #expect(!irq.mayAccessMemory)
    }

    @Test("NEEDS_RESET or FAILED: the device may no longer touch guest memory, whatever rings its doorbell")
    func needsResetStopsService() throws {
        _ = bringUp()
        function.configWrite(offset: PCIConfigSpace.command, size: 2, value: 0x6)
        let irq = try #require(device.activeInterrupt.withLock { $0 })
        #expect(irq.mayAccessMemory)
        transport.markNeedsReset()
        #expect(!irq.mayAccessMemory)  // the ioeventfd path asks this before each batch
        common(0x14, 0, size: 1)       // reset
        _ = bringUp()
        let again = try #require(device.activeInterrupt.withLock { $0 })
        #expect(again.mayAccessMemory)
        common(0x14, UInt64(status | VirtioStatus.failed.rawValue), size: 1)  // the driver gives up
        #expect(!again.mayAccessMemory)
    }

    @Test("the PCI_CFG window reads and writes the BARs through config space")
    func pciConfigWindow() {
        let cap = VirtioPCITransport.pciConfigWindow(function.config) ?? 0
        #expect(cap != 0)
        // Point it at BAR 4 + 0x14 (device_status), 1 byte; write ACKNOWLEDGE through it.
        function.configWrite(offset: cap + 4, size: 1, value: 4)
        function.configWrite(offset: cap + 8, size: 4, value: 0x14)
        function.configWrite(offset: cap + 12, size: 4, value: 1)
        function.configWrite(offset: cap + 16, size: 1, value: 1)
        #expect(status == 1)
        #expect(function.configRead(offset: cap + 16, size: 1) == 1)
        // num_queues (2 bytes at 0x12) through a 2-byte window.
        function.configWrite(offset: cap + 8, size: 4, value: 0x12)
        function.configWrite(offset: cap + 12, size: 4, value: 2)
        #expect(function.configRead(offset: cap + 16, size: 2) == 2)
        // A window past the BAR reads 0 and writes nothing.
        function.configWrite(offset: cap + 8, size: 4, value: 0x4000)
        #expect(function.configRead(offset: cap + 16, size: 4) == 0)
        // The capability's type and BAR fields stay read-only where the spec says.
        function.configWrite(offset: cap + 3, size: 1, value: 9)
        #expect(function.configRead(offset: cap + 3, size: 1) == 5)
    }

    @Test("INTx: a queue interrupt sets ISR bit 0 and the line; reading ISR clears both")
    func intxPath() throws {
        _ = bringUp()
        let irq = try #require(device.activeInterrupt.withLock { $0 })
        irq.notifyQueue(0)
        #expect(intx.level)
        #expect(transport.barRead(4, offset: 0x1000, size: 1) == 1)
        #expect(!intx.level)
        #expect(transport.barRead(4, offset: 0x1000, size: 1) == 0)
    }

    @Test("MSI-X: per-queue vectors, masked entries go pending in the PBA and are sent on unmask")
    func msixPath() throws {
        _ = bringUp()
        // Enable MSI-X in the capability's control word.
        var p = Int(function.config.read8(0x34))
        while function.config.read8(p) != 0x11 { p = Int(function.config.read8(p + 1)) }
        function.configWrite(offset: p + 2, size: 2, value: 0x8000)
        common(0x16, 0, size: 2)
        common(0x1A, 1, size: 2)  // queue 0 -> vector 1
        // Vector 1: address 0xFEE00000, data 0x41, still masked.
        transport.barWrite(1, offset: 16, size: 4, value: 0xFEE0_0000)
        transport.barWrite(1, offset: 24, size: 4, value: 0x41)
        let irq = try #require(device.activeInterrupt.withLock { $0 })
        irq.notifyQueue(0)
        #expect(msi.count == 0)
        #expect(transport.barRead(1, offset: 0x800, size: 8) == 0b10)
        transport.barWrite(1, offset: 28, size: 4, value: 0)  // unmask
        #expect(msi.count == 1)
        #expect(msi.last?.0 == 0xFEE0_0000 && msi.last?.1 == 0x41)
        #expect(transport.barRead(1, offset: 0x800, size: 8) == 0)
        irq.notifyQueue(0)
        #expect(msi.count == 2)
        #expect(!intx.level)
        // No vector assigned (0xFFFF): nothing is sent.
        irq.notifyQueue(1)
        #expect(msi.count == 2)
    }
}
