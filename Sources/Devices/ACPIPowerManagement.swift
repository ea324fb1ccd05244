import Memory
import Synchronization

/// The ACPI fixed hardware of a legacy PC (ACPI 6.4 §4.8.3): the PM1a event
/// block (status and enable, 2 bytes each) and the PM1a control block. The
/// guest powers off by writing SLP_EN with the S5 sleep type (0, per our
/// DSDT's \_S5); the host presses the power button, which sets PWRBTN_STS
/// and, when enabled, raises the SCI (level) until the guest clears it.
public final class ACPIPowerManagement: PortIODevice {
    public static let eventBlockLength: UInt16 = 4
    public static let controlBlockLength: UInt16 = 2
    static let powerButtonStatus: UInt16 = 1 << 8
    static let sciEnable: UInt16 = 1 << 0
    static let sleepEnable: UInt16 = 1 << 13
    static let s5SleepType: UInt16 = 0

    struct State {
        var status: UInt16 = 0
        var enable: UInt16 = 0
        var control: UInt16 = sciEnable  // ACPI mode is always on (no SMI_CMD)
        var sciLevel = false
    }

    private let state = Mutex(State())
    private let sci: any InterruptLine
    private let onPowerOff: @Sendable () -> Void

    /// Offsets: 0-1 PM1a_STS, 2-3 PM1a_EN (the event block), 4-5 PM1a_CNT.
    public init(sci: any InterruptLine, onPowerOff: @escaping @Sendable () -> Void) {
        self.sci = sci
        self.onPowerOff = onPowerOff
    }

    public func reset() {
        state.withLock { $0 = State() }
        sci.setLevel(false)
    }

    /// The host's power button (QMP system_powerdown).
    public func pressPowerButton() {
        let level = state.withLock { s -> Bool? in
            s.status |= ACPIPowerManagement.powerButtonStatus
            return update(&s)
        }
        if let level { sci.setLevel(level) }
    }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        state.withLock { s in
            let word: UInt16
            switch offset & ~1 {
            case 0: word = s.status
            case 2: word = s.enable
            case 4: word = s.control
            default: return 0xFFFF_FFFF
            }
            let v = UInt32(word >> ((offset & 1) * 8))
            return size == 1 ? v & 0xFF : (size == 4 && offset == 0 ? UInt32(s.status) | UInt32(s.enable) << 16 : v)
        }
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        var powerOff = false
        let level: Bool? = state.withLock { s in
            if size == 4 && offset == 0 {  // a dword write covers status and enable
                s.status &= ~UInt16(truncatingIfNeeded: value)
                s.enable = UInt16(truncatingIfNeeded: value >> 16)
                return update(&s)
            }
            let v = UInt16(truncatingIfNeeded: value)
            switch offset {
            case 0: s.status &= ~v  // write 1 to clear
            case 2: s.enable = v
            case 4:
                s.control = (v & ~ACPIPowerManagement.sleepEnable) | ACPIPowerManagement.sciEnable
                let sleepType = (v >> 10) & 7
                powerOff = v & ACPIPowerManagement.sleepEnable != 0 && sleepType == ACPIPowerManagement.s5SleepType
            default: break
            }
            return update(&s)
        }
        if let level { sci.setLevel(level) }
        if powerOff { onPowerOff() }
    }

    /// SCI is asserted while an enabled event is pending.
    private func update(_ s: inout State) -> Bool? {
        let level = s.status & s.enable != 0
        guard level != s.sciLevel else { return nil }
        s.sciLevel = level
        return level
    }
}
