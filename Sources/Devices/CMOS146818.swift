import Glibc
import Memory
import Synchronization

/// Wall-clock time for the RTC (seconds and nanoseconds since the epoch).
public protocol WallClock: Sendable {
    var now: (seconds: Int64, nanoseconds: Int64) { get }
}

/// The host's CLOCK_REALTIME (the guest sees UTC, as QEMU's default -rtc base=utc).
public struct HostWallClock: WallClock {
    public init() {}
    public var now: (seconds: Int64, nanoseconds: Int64) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return (Int64(ts.tv_sec), Int64(ts.tv_nsec))
    }
}

/// The PC's CMOS RAM and real-time clock, a Motorola MC146818A: index port
/// 0x70 (bit 7 masks NMI), data port 0x71, 128 bytes. The time registers
/// follow the host clock plus whatever offset the guest set; BCD or binary
/// and 12 or 24 hour per status register B; UIP is set in the last 244 us
/// of each second, as on the part (datasheet, "Update Cycle"). The memory
/// size bytes are filled as firmware (SeaBIOS, old Linux) reads them.
/// Periodic, alarm and update interrupts (IRQ 8) are not generated.
public final class CMOS146818: PortIODevice {
    public static let basePort: UInt16 = 0x70

    // Register indices (datasheet Table 2; PC/AT CMOS map for the rest).
    static let seconds = 0x00, minutes = 0x02, hours = 0x04, weekday = 0x06, day = 0x07, month = 0x08, year = 0x09
    static let statusA = 0x0A, statusB = 0x0B, statusC = 0x0C, statusD = 0x0D
    static let century = 0x32

    /// Status register B bits.
    struct StatusB: OptionSet {
        let rawValue: UInt8
        static let set = StatusB(rawValue: 0x80)
        static let binary = StatusB(rawValue: 0x04)   // DM: 1 = binary, 0 = BCD
        static let hours24 = StatusB(rawValue: 0x02)
    }

    struct State {
        var index = 0
        var nmiMasked = false
        var ram = [UInt8](repeating: 0, count: 128)
        /// Guest time minus host time, in seconds.
        var offset: Int64 = 0
    }

    private let state = Mutex(State())
    private let clock: any WallClock

    /// `ramSize` and `cpus` fill the memory and CPU count bytes.
    public init(clock: any WallClock, ramSize: UInt64, cpus: Int) {
        self.clock = clock
        state.withLock { s in
            s.ram[CMOS146818.statusA] = 0x26  // 32.768 kHz divider, 1024 Hz rate
            s.ram[CMOS146818.statusB] = StatusB.hours24.rawValue  // BCD, 24 h
            s.ram[CMOS146818.statusD] = 0x80  // VRT: time and RAM valid
            CMOS146818.fillMemorySize(&s.ram, ramSize: ramSize, cpus: cpus)
        }
    }

    /// PC/AT and SeaBIOS conventions: 0x15-0x16 base memory (KiB), 0x17-0x18
    /// and 0x30-0x31 extended memory above 1 MiB (KiB, at most 0xFFFF),
    /// 0x34-0x35 memory above 16 MiB below 4 GiB (64 KiB units), 0x5B-0x5D
    /// memory above 4 GiB (64 KiB units), 0x5F CPU count minus one.
    static func fillMemorySize(_ ram: inout [UInt8], ramSize: UInt64, cpus: Int) {
        let low = min(ramSize, GuestMemory.lowMemoryLimit)
        let high = ramSize - low
        func put16(_ at: Int, _ v: UInt64) {
            ram[at] = UInt8(truncatingIfNeeded: v)
            ram[at + 1] = UInt8(truncatingIfNeeded: v >> 8)
        }
        put16(0x15, 640)
        let extendedKiB = min(low > (1 << 20) ? (low - (1 << 20)) >> 10 : 0, 0xFFFF)
        put16(0x17, extendedKiB)
        put16(0x30, extendedKiB)
        put16(0x34, low > (16 << 20) ? min((low - (16 << 20)) >> 16, 0xFFFF) : 0)
        let above4G = high >> 16
        ram[0x5B] = UInt8(truncatingIfNeeded: above4G)
        ram[0x5C] = UInt8(truncatingIfNeeded: above4G >> 8)
        ram[0x5D] = UInt8(truncatingIfNeeded: above4G >> 16)
        ram[0x5F] = UInt8(clamping: max(cpus, 1) - 1)
    }

    public var nmiMasked: Bool { state.withLock { $0.nmiMasked } }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        guard offset == 1 else { return 0xFF }  // the index port is write-only
        return UInt32(state.withLock { s in read(&s) })
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        state.withLock { s in
            if offset == 0 {
                s.nmiMasked = v & 0x80 != 0
                s.index = Int(v & 0x7F)
            } else {
                write(&s, v)
            }
        }
    }

    // MARK: registers

    private func read(_ s: inout State) -> UInt8 {
        let now = clock.now
        switch s.index {
        case CMOS146818.statusA:
            // UIP: an update is about to happen (last 244 us of the second).
            let uip: UInt8 = now.nanoseconds >= 1_000_000_000 - 244_000 ? 0x80 : 0
            return (s.ram[s.index] & 0x7F) | uip
        case CMOS146818.statusC:
            defer { s.ram[CMOS146818.statusC] = 0 }  // reading clears the flags
            return s.ram[CMOS146818.statusC]
        case CMOS146818.seconds, CMOS146818.minutes, CMOS146818.hours, CMOS146818.weekday, CMOS146818.day,
             CMOS146818.month, CMOS146818.year, CMOS146818.century:
            if StatusB(rawValue: s.ram[CMOS146818.statusB]).contains(.set) { return s.ram[s.index] }
            return timeRegister(s.index, time: now.seconds + s.offset, statusB: StatusB(rawValue: s.ram[CMOS146818.statusB]))
        default:
            return s.ram[s.index]
        }
    }

    private func write(_ s: inout State, _ v: UInt8) {
        switch s.index {
        case CMOS146818.statusA:
            s.ram[s.index] = v & 0x7F  // UIP is read-only
        case CMOS146818.statusB:
            let was = StatusB(rawValue: s.ram[CMOS146818.statusB])
            let now = StatusB(rawValue: v)
            if !was.contains(.set) && now.contains(.set) {
                // Freeze: the registers hold the current time for the guest to edit.
                let t = clock.now.seconds + s.offset
                for r in [CMOS146818.seconds, CMOS146818.minutes, CMOS146818.hours, CMOS146818.weekday,
                          CMOS146818.day, CMOS146818.month, CMOS146818.year, CMOS146818.century] {
                    s.ram[r] = timeRegister(r, time: t, statusB: was)
                }
            }
            s.ram[s.index] = v
            if was.contains(.set) && !now.contains(.set) {
                // Resume from what the guest wrote.
                if let t = timeFromRegisters(s.ram, statusB: now) { s.offset = t - clock.now.seconds }
            }
        case CMOS146818.statusC, CMOS146818.statusD:
            break  // read-only
        default:
            s.ram[s.index] = v
        }
    }

    private func encode(_ v: Int, _ b: StatusB) -> UInt8 {
        b.contains(.binary) ? UInt8(v) : UInt8((v / 10) << 4 | (v % 10))
    }

    private func decode(_ v: UInt8, _ b: StatusB) -> Int {
        b.contains(.binary) ? Int(v) : Int(v >> 4) * 10 + Int(v & 0xF)
    }

    private func timeRegister(_ index: Int, time: Int64, statusB b: StatusB) -> UInt8 {
        var t = time_t(time)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        switch index {
        case CMOS146818.seconds: return encode(Int(tm.tm_sec), b)
        case CMOS146818.minutes: return encode(Int(tm.tm_min), b)
        case CMOS146818.hours:
            if b.contains(.hours24) { return encode(Int(tm.tm_hour), b) }
            let h12 = Int(tm.tm_hour) % 12 == 0 ? 12 : Int(tm.tm_hour) % 12
            return encode(h12, b) | (tm.tm_hour >= 12 ? 0x80 : 0)  // bit 7: PM
        case CMOS146818.weekday: return encode(Int(tm.tm_wday) + 1, b)  // 1 = Sunday
        case CMOS146818.day: return encode(Int(tm.tm_mday), b)
        case CMOS146818.month: return encode(Int(tm.tm_mon) + 1, b)
        case CMOS146818.year: return encode(Int(tm.tm_year) % 100, b)
        default: return encode((Int(tm.tm_year) + 1900) / 100, b)  // century
        }
    }

    /// The time the guest wrote, or nil if the registers are out of range.
    private func timeFromRegisters(_ ram: [UInt8], statusB b: StatusB) -> Int64? {
        var hour = decode(ram[CMOS146818.hours] & 0x7F, b)
        if !b.contains(.hours24) {
            let pm = ram[CMOS146818.hours] & 0x80 != 0
            hour = hour % 12 + (pm ? 12 : 0)
        }
        var tm = Glibc.tm()
        tm.tm_sec = Int32(decode(ram[CMOS146818.seconds], b))
        tm.tm_min = Int32(decode(ram[CMOS146818.minutes], b))
        tm.tm_hour = Int32(hour)
        tm.tm_mday = Int32(decode(ram[CMOS146818.day], b))
        tm.tm_mon = Int32(decode(ram[CMOS146818.month], b) - 1)
        let year = decode(ram[CMOS146818.century], b) * 100 + decode(ram[CMOS146818.year], b)
        tm.tm_year = Int32(year - 1900)
        guard (0...59).contains(tm.tm_sec), (0...59).contains(tm.tm_min), (0...23).contains(tm.tm_hour),
              (1...31).contains(tm.tm_mday), (0...11).contains(tm.tm_mon) else { return nil }
        return Int64(timegm(&tm))
    }
}
