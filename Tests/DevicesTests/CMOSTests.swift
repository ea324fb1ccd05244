import Devices
import Synchronization
import Testing

final class FakeWallClock: WallClock {
    private let t = Mutex<(Int64, Int64)>((0, 0))
    var now: (seconds: Int64, nanoseconds: Int64) { t.withLock { ($0.0, $0.1) } }
    func set(_ seconds: Int64, _ ns: Int64 = 0) { t.withLock { $0 = (seconds, ns) } }
}

/// MC146818A registers and the PC CMOS map.
@Suite("CMOS RTC")
struct CMOSTests {
    let clock = FakeWallClock()
    let cmos: CMOS146818

    init() {
        // 2026-11-22 15:04:05 UTC, a Sunday.
        clock.set(1_795_359_845)
        cmos = CMOS146818(clock: clock, ramSize: 512 << 20, cpus: 2)
    }

    func read(_ index: UInt8) -> UInt8 {
        cmos.ioWrite(offset: 0, size: 1, value: UInt32(index))
        return UInt8(cmos.ioRead(offset: 1, size: 1))
    }

    func write(_ index: UInt8, _ v: UInt8) {
        cmos.ioWrite(offset: 0, size: 1, value: UInt32(index))
        cmos.ioWrite(offset: 1, size: 1, value: UInt32(v))
    }

    @Test("BCD, 24 hour by default: the host's UTC time")
    func bcdTime() {
        #expect(read(0x00) == 0x05)
        #expect(read(0x02) == 0x04)
        #expect(read(0x04) == 0x15)
        #expect(read(0x06) == 0x01)  // Sunday
        #expect(read(0x07) == 0x22)
        #expect(read(0x08) == 0x11)
        #expect(read(0x09) == 0x26)
        #expect(read(0x32) == 0x20)  // century
    }

    @Test("binary mode and 12-hour mode with the PM bit")
    func binaryAnd12Hour() {
        write(0x0B, 0x04 | 0x02)  // binary, 24 h
        #expect(read(0x04) == 15)
        #expect(read(0x09) == 26)
        write(0x0B, 0x04)  // binary, 12 h
        #expect(read(0x04) == 0x80 | 3)
        write(0x0B, 0x00)  // BCD, 12 h
        #expect(read(0x04) == 0x80 | 0x03)
        clock.set(1_795_305_600)  // 2026-11-22 00:00:00: 12 AM
        #expect(read(0x04) == 0x12)
    }

    @Test("status registers: A's UIP in the last 244 us of a second, C clears on read, D says valid")
    func status() {
        #expect(read(0x0A) == 0x26)
        clock.set(1_795_359_845, 999_900_000)
        #expect(read(0x0A) == 0xA6)
        write(0x0A, 0xA0)  // UIP is read-only
        clock.set(1_795_359_845, 0)
        #expect(read(0x0A) == 0x20)
        #expect(read(0x0C) == 0)
        #expect(read(0x0D) == 0x80)
        write(0x0D, 0)
        #expect(read(0x0D) == 0x80)
    }

    @Test("setting the time: SET freezes, the guest writes, clearing SET runs from the new time")
    func setTime() {
        write(0x0B, 0x82)  // SET, BCD, 24 h
        clock.set(1_795_359_845 + 30)
        #expect(read(0x00) == 0x05)  // frozen
        write(0x04, 0x09)  // 09:04:05
        write(0x0B, 0x02)
        #expect(read(0x04) == 0x09)
        #expect(read(0x00) == 0x05)
        clock.set(1_795_359_845 + 40)
        #expect(read(0x00) == 0x15)
    }

    @Test("the NMI mask is bit 7 of the index port; the index port reads FF")
    func nmiMask() {
        cmos.ioWrite(offset: 0, size: 1, value: 0x80 | 0x0D)
        #expect(cmos.nmiMasked)
        #expect(cmos.ioRead(offset: 1, size: 1) == 0x80)  // index 0x0D still selected
        cmos.ioWrite(offset: 0, size: 1, value: 0x0D)
        #expect(!cmos.nmiMasked)
        #expect(cmos.ioRead(offset: 0, size: 1) == 0xFF)
    }

    @Test("memory size bytes for 512 MiB and 2 CPUs")
    func memoryBytes() {
        #expect(UInt16(read(0x16)) << 8 | UInt16(read(0x15)) == 640)
        #expect(UInt16(read(0x18)) << 8 | UInt16(read(0x17)) == 0xFFFF)  // capped
        #expect(UInt16(read(0x31)) << 8 | UInt16(read(0x30)) == 0xFFFF)
        #expect(UInt16(read(0x35)) << 8 | UInt16(read(0x34)) == UInt16((512 - 16) * 16))  // 64 KiB units
        #expect([read(0x5B), read(0x5C), read(0x5D)] == [0, 0, 0])
        #expect(read(0x5F) == 1)
    }

    @Test("memory above 4 GiB and small RAM")
    func memoryLayouts() {
        let big = CMOS146818(clock: clock, ramSize: 5 << 30, cpus: 1)
        func r(_ i: UInt8) -> UInt8 {
            big.ioWrite(offset: 0, size: 1, value: UInt32(i))
            return UInt8(big.ioRead(offset: 1, size: 1))
        }
        #expect(UInt16(r(0x35)) << 8 | UInt16(r(0x34)) == UInt16(((3 << 30) - (16 << 20)) >> 16))
        let above = UInt32(r(0x5D)) << 16 | UInt32(r(0x5C)) << 8 | UInt32(r(0x5B))
        #expect(above == (2 << 30) >> 16)
        let small = CMOS146818(clock: clock, ramSize: 8 << 20, cpus: 1)
        small.ioWrite(offset: 0, size: 1, value: 0x17)
        #expect(small.ioRead(offset: 1, size: 1) == UInt32((7 << 10) & 0xFF))
        small.ioWrite(offset: 0, size: 1, value: 0x34)
        #expect(small.ioRead(offset: 1, size: 1) == 0)
    }

    @Test("other CMOS bytes are plain RAM")
    func ram() {
        write(0x40, 0x5A)
        #expect(read(0x40) == 0x5A)
        write(0x7F, 1)
        #expect(read(0x7F) == 1)
    }
}

@Suite("i8042")
struct I8042Tests {
    final class Counter: Sendable {
        private let n = Mutex(0)
        func bump() { n.withLock { $0 += 1 } }
        var value: Int { n.withLock { $0 } }
    }

    let irq = FakeInterruptLine()
    let resetCount = Counter()
    let kbc: I8042

    init() {
        let counter = resetCount
        kbc = I8042(irq: irq) { counter.bump() }
    }

    func status() -> UInt8 { UInt8(kbc.ioRead(offset: 4, size: 1)) }
    func command(_ c: UInt8) { kbc.ioWrite(offset: 4, size: 1, value: UInt32(c)) }
    func data(_ d: UInt8) { kbc.ioWrite(offset: 0, size: 1, value: UInt32(d)) }
    func read() -> UInt8 { UInt8(kbc.ioRead(offset: 0, size: 1)) }

    @Test("0xFE on port 0x64 pulses the CPU reset line")
    func resetCommand() {
        command(0xFE)
        #expect(resetCount.value == 1)
        command(0xFF)  // pulses no line
        #expect(resetCount.value == 1)
    }

    @Test("writing the output port with bit 0 clear resets; A20 follows bit 1")
    func outputPort() {
        command(0xD1)
        data(0x01)  // A20 off, not in reset
        #expect(!kbc.a20Enabled)
        #expect(resetCount.value == 0)
        command(0xD0)
        #expect(read() == 0x01)
        command(0xD1)
        data(0x02)
        #expect(resetCount.value == 1)
    }

    @Test("self test, interface test, command byte read and write")
    func controllerCommands() {
        command(0xAA)
        #expect(status() & 0x01 == 1)
        #expect(read() == 0x55)
        #expect(status() & 0x04 != 0)  // system flag
        command(0xAB)
        #expect(read() == 0x00)
        command(0x60)
        data(0x44)
        command(0x20)
        #expect(read() == 0x44)
        #expect(status() & 0x01 == 0)
    }

    @Test("the keyboard ACKs, answers reset and identify; IRQ 1 follows the output buffer")
    func keyboard() {
        data(0xFF)
        #expect(irq.level)
        #expect(read() == 0xFA)
        #expect(read() == 0xAA)
        #expect(!irq.level)
        data(0xF2)
        #expect([read(), read(), read()] == [0xFA, 0xAB, 0x83])
        data(0xED)
        data(0x07)  // LED byte
        #expect([read(), read()] == [0xFA, 0xFA])
        command(0x60)
        data(0x44)  // keyboard IRQ off
        data(0xF4)
        #expect(!irq.level)
    }

    @Test("the output queue is bounded")
    func bounded() {
        for _ in 0..<100 { data(0xF2) }
        var n = 0
        while status() & 0x01 != 0 { _ = read(); n += 1 }
        #expect(n == 16)
    }
}
