import Memory
import Synchronization

/// Time for the PIT, in its own input clock ticks (1.193182 MHz on a PC).
/// Production derives it from the host monotonic clock; tests drive it.
public protocol TickSource: Sendable {
    var now: UInt64 { get }
}

/// Where the PIT asks for its next channel 0 wake-up (a timerfd on the event
/// loop in production, a recorder in tests). nil cancels.
public protocol TickAlarm: Sendable {
    func arm(atTick: UInt64?)
}

/// Intel 8254 programmable interval timer (datasheet 231164): three 16-bit
/// down counters at ports 0x40-0x42, the control word at 0x43, modes 0-5,
/// binary or BCD, LSB / MSB / LSB-then-MSB access, the counter latch and
/// read-back commands. Counts are derived from `TickSource` rather than
/// stepped, so a read between interrupts is exact. Channel 0's OUT drives
/// IRQ 0 (an edge per rising OUT), channel 2's gate and OUT are wired to
/// port 0x61 as on the PC (see `PITPort61`).
public final class PIT8254: PortIODevice {
    public static let baseHz: UInt64 = 1_193_182
    public static let basePort: UInt16 = 0x40
    public static let portCount: UInt16 = 4
    public static let irq: UInt32 = 0

    /// Control word access field (bits 5-4).
    enum Access: UInt8 { case latch = 0, lsb = 1, msb = 2, lsbThenMSB = 3 }

    struct Channel {
        var mode: UInt8 = 0
        var bcd = false
        var access = Access.lsbThenMSB
        /// The count register as written (0 means 65536, or 10000 in BCD).
        var reload: UInt32 = 0
        /// Low byte written, high byte pending (LSB-then-MSB writes).
        var writeHighNext = false
        var pendingLow: UInt8 = 0
        /// A count is in the counting element.
        var loaded = false
        /// Counting (loaded, gate allows, and for modes 1/5 triggered).
        var running = false
        /// Tick at which the current count started.
        var start: UInt64 = 0
        /// Elapsed ticks frozen while the gate holds counting (modes 0, 4).
        var frozen: UInt64 = 0
        var gate = true
        /// OUT before any count: low in mode 0, high otherwise.
        var idleOut = true
        var nullCount = true
        var latchedCount: UInt16?
        var readHighNext = false
        var latchedStatus: UInt8?

        var period: UInt64 { reload == 0 ? (bcd ? 10_000 : 65_536) : UInt64(reload) }
    }

    private let state: Mutex<[Channel]>
    private let clock: any TickSource
    private let irq: any InterruptLine
    private let alarm: any TickAlarm

    public init(clock: any TickSource, irq: any InterruptLine, alarm: any TickAlarm) {
        self.clock = clock
        self.irq = irq
        self.alarm = alarm
        var channels = [Channel](repeating: Channel(), count: 3)
        channels[2].gate = false  // port 0x61 bit 0 resets to 0
        state = Mutex(channels)
    }

    /// Power-on: every channel unprogrammed, alarm off.
    public func reset() {
        state.withLock { channels in
            channels = [Channel](repeating: Channel(), count: 3)
            channels[2].gate = false
        }
        alarm.arm(atTick: nil)
    }

    // MARK: counting model (datasheet "Operating Modes")

    /// Ticks counted so far in the current count.
    private static func elapsed(_ c: Channel, _ now: UInt64) -> UInt64 {
        guard c.loaded else { return 0 }
        return c.running ? c.frozen &+ (now &- c.start) : c.frozen
    }

    /// The counting element's value now, as the guest would read it (binary).
    static func count(_ c: Channel, now: UInt64) -> UInt64 {
        guard c.loaded else { return UInt64(c.reload) }
        let n = c.period
        let d = elapsed(c, now)
        let modulus: UInt64 = c.bcd ? 10_000 : 65_536
        switch c.mode {
        case 2:
            return n - d % n  // N, N-1, ... 1, reload N
        case 3:
            // Decrements by two each clock; reloads every half period.
            let half = (n + 1) / 2
            let phase = d % n
            let intoHalf = phase < half ? phase : phase - half
            return n - 2 * intoHalf
        default:
            // Modes 0, 1, 4, 5: one pass from N, then wrap and keep counting.
            return (n + modulus - d % modulus) % modulus
        }
    }

    /// The OUT pin now.
    static func out(_ c: Channel, now: UInt64) -> Bool {
        guard c.loaded else { return c.idleOut }
        let n = c.period
        let d = elapsed(c, now)
        switch c.mode {
        case 0: return d >= n                      // high at terminal count
        case 1: return !c.running || d >= n        // low from trigger to TC
        case 2: return !c.gate || d % n != n - 1   // low for the clock at count 1
        case 3: return !c.gate || d % n < (n + 1) / 2  // high half (longer if odd)
        case 4, 5: return !c.running || d != n     // low for one clock after TC
        default: return true
        }
    }

    /// The next tick after `now` at which channel 0's OUT rises, if any.
    static func nextRisingEdge(_ c: Channel, now: UInt64) -> UInt64? {
        guard c.loaded, c.running else { return nil }
        let n = c.period
        let d = elapsed(c, now)
        let base = now &- d  // the tick at which this count started
        switch c.mode {
        case 0, 1:
            return d < n ? base + n : nil
        case 2, 3:
            // Rising at the start of each period (mode 2: after the low clock).
            return base + (d / n + 1) * n
        case 4, 5:
            return d <= n ? base + n + 1 : nil
        default:
            return nil
        }
    }

    // MARK: host side

    /// The alarm fired: one IRQ 0 edge, and the next alarm.
    public func alarmFired() {
        let (fire, next): (Bool, UInt64?) = state.withLock { channels in
            let now = clock.now
            let c = channels[0]
            let next = PIT8254.nextRisingEdge(c, now: now)
            return (c.loaded && c.running, next)
        }
        if fire { irq.pulse() }
        alarm.arm(atTick: next)
    }

    // MARK: guest side

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        guard offset < 3 else { return 0xFF }  // the control word register is write-only
        return UInt32(state.withLock { channels in PIT8254.readCounter(&channels[Int(offset)], now: clock.now) })
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        let rearm: UInt64?? = state.withLock { channels in
            let now = clock.now
            if offset == 3 {
                PIT8254.writeControl(&channels, v, now: now)
            } else if offset < 3 {
                PIT8254.writeCounter(&channels[Int(offset)], v, now: now)
            } else {
                return nil
            }
            // Channel 0 may have a new schedule.
            return .some(PIT8254.nextRisingEdge(channels[0], now: now))
        }
        if let rearm { alarm.arm(atTick: rearm) }
    }

    private static func readCounter(_ c: inout Channel, now: UInt64) -> UInt8 {
        if let status = c.latchedStatus {
            c.latchedStatus = nil
            return status
        }
        let value = c.latchedCount ?? encode(count(c, now: now), bcd: c.bcd)
        let byte: UInt8
        switch c.access {
        case .lsb: byte = UInt8(value & 0xFF); c.latchedCount = nil
        case .msb: byte = UInt8(value >> 8); c.latchedCount = nil
        case .lsbThenMSB, .latch:
            if c.readHighNext {
                byte = UInt8(value >> 8)
                c.latchedCount = nil
            } else {
                byte = UInt8(value & 0xFF)
            }
            c.readHighNext.toggle()
        }
        return byte
    }

    /// Binary 0...65536 (or 0...10000) to the 16-bit register form.
    static func encode(_ v: UInt64, bcd: Bool) -> UInt16 {
        guard bcd else { return UInt16(truncatingIfNeeded: v) }
        let x = v % 10_000
        return UInt16(x / 1000) << 12 | UInt16(x / 100 % 10) << 8 | UInt16(x / 10 % 10) << 4 | UInt16(x % 10)
    }

    /// The 16-bit register form to binary; invalid BCD digits count as their
    /// binary value (the part's behaviour is undefined there).
    static func decode(_ v: UInt16, bcd: Bool) -> UInt32 {
        guard bcd else { return UInt32(v) }
        return UInt32(v >> 12) * 1000 + UInt32(v >> 8 & 0xF) * 100 + UInt32(v >> 4 & 0xF) * 10 + UInt32(v & 0xF)
    }

    private static func status(_ c: Channel, now: UInt64) -> UInt8 {
        (out(c, now: now) ? 0x80 : 0) | (c.nullCount ? 0x40 : 0) | c.access.rawValue << 4 | c.mode << 1 | (c.bcd ? 1 : 0)
    }

    private static func latch(_ c: inout Channel, now: UInt64) {
        // A second latch before the first is read is ignored (datasheet).
        if c.latchedCount == nil {
            c.latchedCount = encode(count(c, now: now), bcd: c.bcd)
            c.readHighNext = false
        }
    }

    private static func writeControl(_ channels: inout [Channel], _ v: UInt8, now: UInt64) {
        let select = Int(v >> 6)
        if select == 3 {
            // Read-back (bits 5 and 4 are active low: COUNT, STATUS).
            for i in 0..<3 where v & (2 << i) != 0 {
                if v & 0x20 == 0 { latch(&channels[i], now: now) }
                if v & 0x10 == 0 && channels[i].latchedStatus == nil {
                    channels[i].latchedStatus = status(channels[i], now: now)
                }
            }
            return
        }
        guard let access = Access(rawValue: (v >> 4) & 3) else { return }
        if access == .latch {
            latch(&channels[select], now: now)
            return
        }
        var c = channels[select]
        var mode = (v >> 1) & 7
        if mode > 5 { mode -= 4 }  // 110 and 111 are modes 2 and 3
        c.mode = mode
        c.bcd = v & 1 != 0
        c.access = access
        c.writeHighNext = false
        c.readHighNext = false
        c.latchedCount = nil
        c.latchedStatus = nil
        c.loaded = false
        c.running = false
        c.frozen = 0
        c.nullCount = true
        c.idleOut = mode != 0  // mode 0: OUT low after the control word
        channels[select] = c
    }

    private static func writeCounter(_ c: inout Channel, _ v: UInt8, now: UInt64) {
        switch c.access {
        case .lsb: c.reload = decode(UInt16(v), bcd: c.bcd)
        case .msb: c.reload = decode(UInt16(v) << 8, bcd: c.bcd)
        case .lsbThenMSB, .latch:
            if !c.writeHighNext {
                c.pendingLow = v
                c.writeHighNext = true
                // Mode 0: writing the first byte stops the count, OUT low.
                if c.mode == 0 && c.loaded {
                    c.frozen = elapsed(c, now)
                    c.loaded = false
                    c.idleOut = false
                }
                return
            }
            c.writeHighNext = false
            c.reload = decode(UInt16(v) << 8 | UInt16(c.pendingLow), bcd: c.bcd)
        }
        load(&c, now: now)
    }

    /// A complete count was written. Modes 0, 2, 3 and 4 start counting (if
    /// the gate allows); modes 2 and 3 that are already counting pick the new
    /// count up at the end of the current period; modes 1 and 5 wait for a
    /// gate trigger.
    private static func load(_ c: inout Channel, now: UInt64) {
        if (c.mode == 2 || c.mode == 3) && c.loaded && c.running {
            // Keep the current period's phase; the new count takes over at
            // its end. Approximated by restarting at the next period boundary.
            let d = elapsed(c, now)
            let n = c.period
            let untilReload = n - d % n
            c.start = now + untilReload
            c.frozen = 0
            c.nullCount = false
            return
        }
        c.loaded = true
        c.nullCount = false
        c.frozen = 0
        c.start = now
        switch c.mode {
        case 1, 5: c.running = false
        default: c.running = c.gate
        }
    }

    // MARK: gate (channel 2 via port 0x61)

    func setGate(_ channel: Int, _ high: Bool) {
        let rearm: UInt64?? = state.withLock { channels in
            var c = channels[channel]
            let now = clock.now
            defer { channels[channel] = c }
            guard c.gate != high else { return nil }
            c.gate = high
            guard c.loaded else { return nil }
            switch (c.mode, high) {
            case (0, false), (4, false):
                c.frozen = PIT8254.elapsed(c, now)  // suspend
                c.running = false
            case (0, true), (4, true):
                c.start = now  // resume with the frozen part kept
                c.running = true
            case (2, false), (3, false):
                c.running = false
            case (2, true), (3, true), (1, true), (5, true):
                c.start = now  // rising edge: reload (and trigger for 1, 5)
                c.frozen = 0
                c.running = true
            default:
                break  // modes 1, 5 ignore a falling gate
            }
            return channel == 0 ? .some(PIT8254.nextRisingEdge(c, now: now)) : nil
        }
        if let rearm { alarm.arm(atTick: rearm) }
    }

    func gate(_ channel: Int) -> Bool { state.withLock { $0[channel].gate } }
    func output(_ channel: Int) -> Bool { state.withLock { PIT8254.out($0[channel], now: clock.now) } }
}

/// Port 0x61, "system control port B" on the PC: bit 0 gates PIT channel 2,
/// bit 1 enables the speaker, bit 4 toggles with the DRAM refresh (every
/// ~15 us; derived from the clock), bit 5 reads channel 2's OUT.
public final class PITPort61: PortIODevice {
    public static let port: UInt16 = 0x61
    private let pit: PIT8254
    private let clock: any TickSource
    private let speaker = Mutex<UInt8>(0)

    public init(pit: PIT8254, clock: any TickSource) {
        self.pit = pit
        self.clock = clock
    }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        let refresh: UInt8 = (clock.now / 18) & 1 == 1 ? 0x10 : 0  // 18 ticks ~ 15 us
        let gate: UInt8 = pit.gate(2) ? 0x01 : 0
        let out: UInt8 = pit.output(2) ? 0x20 : 0
        return UInt32(gate | speaker.withLock { $0 } | refresh | out)
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        speaker.withLock { $0 = UInt8(truncatingIfNeeded: value) & 0x02 }
        pit.setGate(2, value & 0x01 != 0)
    }
}
