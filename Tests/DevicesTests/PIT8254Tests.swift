@testable import Devices
import Synchronization
import Testing

final class FakeTicks: TickSource {
    private let value = Mutex<UInt64>(1000)
    var now: UInt64 { value.withLock { $0 } }
    func advance(_ n: UInt64) { value.withLock { $0 += n } }
}

final class RecordingAlarm: TickAlarm {
    private let armed = Mutex<[UInt64?]>([])
    func arm(atTick: UInt64?) { armed.withLock { $0.append(atTick) } }
    var last: UInt64?? { armed.withLock { $0.last } }
}

/// Per-mode checks against the Intel 8254 datasheet, on a fake clock.
@Suite("8254 PIT")
struct PIT8254Tests {
    let clock = FakeTicks()
    let irq = FakeInterruptLine()
    let alarm = RecordingAlarm()
    let pit: PIT8254
    let port61: PITPort61

    init() {
        pit = PIT8254(clock: clock, irq: irq, alarm: alarm)
        port61 = PITPort61(pit: pit, clock: clock)
    }

    func control(_ v: UInt8) { pit.ioWrite(offset: 3, size: 1, value: UInt32(v)) }
    func write(_ ch: UInt16, _ v: UInt8) { pit.ioWrite(offset: ch, size: 1, value: UInt32(v)) }
    func read(_ ch: UInt16) -> UInt8 { UInt8(pit.ioRead(offset: ch, size: 1)) }
    func load(_ ch: UInt16, _ count: UInt16) { write(ch, UInt8(count & 0xFF)); write(ch, UInt8(count >> 8)) }
    /// Counter latch, then LSB, MSB.
    func latchedCount(_ ch: UInt16) -> UInt16 {
        control(UInt8(ch) << 6)
        let lo = read(ch)
        return UInt16(read(ch)) << 8 | UInt16(lo)
    }
    /// Read-back status of one channel.
    func status(_ ch: UInt16) -> UInt8 {
        control(0xE0 | (2 << ch))
        return read(ch)
    }
    func outHigh(_ ch: UInt16) -> Bool { status(ch) & 0x80 != 0 }

    @Test("mode 0: OUT low after the control word, counts down, high at terminal count, then wraps")
    func mode0() {
        control(0x30)  // channel 0, LSB then MSB, mode 0, binary
        #expect(!outHigh(0))
        #expect(status(0) & 0x40 != 0)  // null count until a count is written
        load(0, 100)
        #expect(status(0) & 0x7F == 0x30)  // count loaded: null count clear, RW 11, mode 0
        #expect(alarm.last == .some(clock.now + 100))
        clock.advance(40)
        #expect(latchedCount(0) == 60)
        #expect(!outHigh(0))
        clock.advance(60)
        #expect(latchedCount(0) == 0)
        #expect(outHigh(0))
        clock.advance(1)
        #expect(latchedCount(0) == 0xFFFF)
        #expect(outHigh(0))
    }

    @Test("mode 0: writing the first byte of a new count stops counting and drops OUT")
    func mode0Rewrite() {
        control(0x30)
        load(0, 10)
        clock.advance(20)
        #expect(outHigh(0))
        write(0, 50)
        #expect(!outHigh(0))
        write(0, 0)
        clock.advance(49)
        #expect(!outHigh(0))
        clock.advance(1)
        #expect(outHigh(0))
    }

    @Test("mode 2: N ... 1, reload; OUT low only for the clock at count 1; alarms every N")
    func mode2() {
        control(0x34)
        let start = clock.now
        load(0, 10)
        #expect(alarm.last == .some(start + 10))
        #expect(latchedCount(0) == 10)
        #expect(outHigh(0))
        clock.advance(9)
        #expect(latchedCount(0) == 1)
        #expect(!outHigh(0))
        clock.advance(1)
        #expect(latchedCount(0) == 10)
        #expect(outHigh(0))
        clock.advance(25)
        #expect(latchedCount(0) == 5)
        pit.alarmFired()
        #expect(irq.changes == [true, false])
        #expect(alarm.last == .some(start + 40))
    }

    @Test("mode 3: square wave, high N/2 and low N/2, counting down by two; odd N is high one longer")
    func mode3() {
        control(0x36)
        load(0, 10)
        var pattern: [Bool] = []
        var counts: [UInt16] = []
        for _ in 0..<10 {
            pattern.append(outHigh(0))
            counts.append(latchedCount(0))
            clock.advance(1)
        }
        #expect(pattern == [true, true, true, true, true, false, false, false, false, false])
        #expect(counts == [10, 8, 6, 4, 2, 10, 8, 6, 4, 2])
        control(0x36)
        load(0, 5)
        var odd: [Bool] = []
        for _ in 0..<5 {
            odd.append(outHigh(0))
            clock.advance(1)
        }
        #expect(odd == [true, true, true, false, false])
    }

    @Test("mode 4: OUT high, low for one clock after terminal count")
    func mode4() {
        control(0x38)
        load(0, 5)
        clock.advance(4)
        #expect(outHigh(0))
        clock.advance(1)
        #expect(!outHigh(0))
        clock.advance(1)
        #expect(outHigh(0))
    }

    @Test("mode 1 on channel 2: waits for a gate trigger, OUT low until TC, retriggerable")
    func mode1() {
        control(0xB2)  // channel 2, LSB/MSB, mode 1
        load(2, 8)
        clock.advance(20)
        #expect(outHigh(2))  // not triggered
        port61.ioWrite(offset: 0, size: 1, value: 1)  // gate rises: trigger
        #expect(!outHigh(2))
        clock.advance(5)
        #expect(latchedCount(2) == 3)
        port61.ioWrite(offset: 0, size: 1, value: 0)
        port61.ioWrite(offset: 0, size: 1, value: 1)  // retrigger: reload
        #expect(latchedCount(2) == 8)
        clock.advance(8)
        #expect(outHigh(2))
    }

    @Test("mode 5: gate-triggered strobe")
    func mode5() {
        control(0xBA)  // channel 2, mode 5
        load(2, 3)
        port61.ioWrite(offset: 0, size: 1, value: 1)
        clock.advance(3)
        #expect(!outHigh(2))
        clock.advance(1)
        #expect(outHigh(2))
    }

    @Test("gate low suspends mode 0 and holds mode 2's OUT high; a rising gate reloads mode 2")
    func gating() {
        port61.ioWrite(offset: 0, size: 1, value: 1)
        control(0xB0)  // channel 2, mode 0
        load(2, 100)
        clock.advance(30)
        port61.ioWrite(offset: 0, size: 1, value: 0)
        clock.advance(500)
        #expect(latchedCount(2) == 70)
        port61.ioWrite(offset: 0, size: 1, value: 1)
        clock.advance(10)
        #expect(latchedCount(2) == 60)

        control(0xB4)  // mode 2
        load(2, 10)
        clock.advance(9)
        port61.ioWrite(offset: 0, size: 1, value: 0)
        #expect(outHigh(2))
        port61.ioWrite(offset: 0, size: 1, value: 1)
        #expect(latchedCount(2) == 10)
    }

    @Test("BCD counting: 1000 decimal reads 0999 after one clock; 0 means 10000")
    func bcd() {
        control(0x31)
        load(0, 0x1000)
        clock.advance(1)
        #expect(latchedCount(0) == 0x0999)
        control(0x31)
        load(0, 0)
        clock.advance(1)
        #expect(latchedCount(0) == 0x9999)
    }

    @Test("LSB-only and MSB-only access")
    func accessModes() {
        control(0x14)  // channel 0, LSB only, mode 2
        write(0, 50)
        clock.advance(5)
        #expect(read(0) == 45)
        #expect(read(0) == 45)  // every read is the LSB
        control(0x24)  // MSB only
        write(0, 1)  // 256
        clock.advance(6)
        #expect(read(0) == 0)  // 250 >> 8
    }

    @Test("a latched count holds while time passes; a second latch before reading is ignored")
    func latch() {
        control(0x34)
        load(0, 1000)
        clock.advance(10)
        control(0x00)
        clock.advance(100)
        control(0x00)  // ignored: the first latch is unread
        #expect(read(0) == UInt8(990 & 0xFF))
        #expect(read(0) == UInt8(990 >> 8))
        #expect(latchedCount(0) == 890)
    }

    @Test("read-back latches status and count of several channels at once; status comes first")
    func readBack() {
        control(0x34)
        load(0, 500)
        control(0x76)  // channel 1, mode 3
        load(1, 300)
        clock.advance(100)
        control(0xC6)  // read-back: COUNT and STATUS, channels 0 and 1
        clock.advance(50)
        #expect(read(0) == 0xB4)  // OUT high, RW 11, mode 2
        #expect(read(0) == UInt8(400 & 0xFF))
        #expect(read(0) == UInt8(400 >> 8))
        #expect(read(1) == 0xB6)
        #expect(read(1) == UInt8(100 & 0xFF))  // 300 - 2*100
    }

    @Test("port 0x61: channel 2 gate and OUT, as Linux and SeaBIOS calibrate the TSC")
    func port61Calibration() {
        var v = UInt8(port61.ioRead(offset: 0, size: 1))
        port61.ioWrite(offset: 0, size: 1, value: UInt32((v & ~0x02) | 0x01))
        control(0xB0)
        load(2, 11932)  // ~10 ms
        v = UInt8(port61.ioRead(offset: 0, size: 1))
        #expect(v & 0x20 == 0)
        #expect(v & 0x01 == 1)
        clock.advance(11931)
        #expect(port61.ioRead(offset: 0, size: 1) & 0x20 == 0)
        clock.advance(1)
        #expect(port61.ioRead(offset: 0, size: 1) & 0x20 != 0)
    }

    @Test("the control port reads nothing useful; reset clears everything")
    func resetAndControlRead() {
        #expect(pit.ioRead(offset: 3, size: 1) == 0xFF)
        control(0x34)
        load(0, 10)
        pit.reset()
        #expect(alarm.last == .some(nil))
        #expect(status(0) & 0x40 != 0)
    }
}
