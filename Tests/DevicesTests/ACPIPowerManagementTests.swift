import Devices
import Synchronization
import Testing

@Suite("ACPI PM1a")
struct ACPIPowerManagementTests {
    final class Flag: Sendable {
        private let v = Mutex(false)
        func set() { v.withLock { $0 = true } }
        var isSet: Bool { v.withLock { $0 } }
    }

    let sci = FakeInterruptLine()
    let poweredOff = Flag()
    let pm: ACPIPowerManagement

    init() {
        let flag = poweredOff
        pm = ACPIPowerManagement(sci: sci) { flag.set() }
    }

    @Test("SCI_EN reads set: ACPI mode is always on")
    func sciEnabled() {
        #expect(pm.ioRead(offset: 4, size: 2) & 1 == 1)
    }

    @Test("the power button sets PWRBTN_STS; the SCI follows status & enable; writing 1 clears")
    func powerButton() {
        pm.pressPowerButton()
        #expect(pm.ioRead(offset: 0, size: 2) == 0x100)
        #expect(!sci.level)  // not enabled yet
        pm.ioWrite(offset: 2, size: 2, value: 0x100)
        #expect(sci.level)
        pm.ioWrite(offset: 0, size: 2, value: 0x100)
        #expect(pm.ioRead(offset: 0, size: 2) == 0)
        #expect(!sci.level)
    }

    @Test("SLP_EN with sleep type 0 (S5) powers off; other sleep types do not")
    func powerOff() {
        pm.ioWrite(offset: 4, size: 2, value: UInt32(1 << 13 | 3 << 10))
        #expect(!poweredOff.isSet)
        pm.ioWrite(offset: 4, size: 2, value: UInt32(1 << 13))
        #expect(poweredOff.isSet)
    }

    @Test("byte and dword accesses; outside the blocks reads all-ones")
    func widths() {
        pm.pressPowerButton()
        #expect(pm.ioRead(offset: 1, size: 1) == 0x01)
        pm.ioWrite(offset: 0, size: 4, value: 0x0100_0000)  // enable the button, clear nothing
        #expect(pm.ioRead(offset: 0, size: 4) == 0x0100_0100)
        #expect(sci.level)
        #expect(pm.ioRead(offset: 6, size: 2) == 0xFFFF_FFFF)
    }
}
