import Memory
import Synchronization

/// The PC keyboard controller (Intel 8042) as far as a PC needs it: status
/// and command ports (0x64), data port (0x60), the controller command byte,
/// self tests, enabling/disabling the ports, the output port (A20), a
/// keyboard that ACKs its commands and answers reset/identify, and the
/// CPU-reset line: command 0xFE (pulse output port bit 0), as Linux's
/// `reboot=k` uses, or writing the output port with bit 0 clear. No keys
/// are ever typed (input comes through the serial port).
public final class I8042: PortIODevice {
    public static let dataPort: UInt16 = 0x60
    public static let commandPort: UInt16 = 0x64
    public static let keyboardIRQ: UInt32 = 1
    static let queueLimit = 16

    /// Status register bits.
    struct Status: OptionSet {
        let rawValue: UInt8
        static let outputFull = Status(rawValue: 0x01)
        static let systemFlag = Status(rawValue: 0x04)
        static let command = Status(rawValue: 0x08)   // last write was to 0x64
        static let unlocked = Status(rawValue: 0x10)
        static let auxOutputFull = Status(rawValue: 0x20)
    }

    enum Pending { case none, commandByte, outputPort, keyboardLEDs, keyboardScanSet, keyboardRate, auxByte }

    struct State {
        /// Command byte: bit 0 keyboard IRQ, bit 2 system flag, bit 4 keyboard
        /// disabled, bit 5 aux disabled, bit 6 translation.
        var commandByte: UInt8 = 0x45
        var status: Status = [.unlocked]
        var queue: [UInt8] = []
        var pending = Pending.none
        var outputPort: UInt8 = 0x03  // bit 0: not in reset, bit 1: A20 on
        var irqLevel = false
    }

    private let state = Mutex(State())
    private let irq: any InterruptLine
    private let onReset: @Sendable () -> Void

    /// `onReset` is called when the guest pulls the CPU reset line.
    public init(irq: any InterruptLine, onReset: @escaping @Sendable () -> Void) {
        self.irq = irq
        self.onReset = onReset
    }

    public func reset() {
        state.withLock { $0 = State() }
        irq.setLevel(false)
    }

    /// A20 gate as the output port sets it.
    public var a20Enabled: Bool { state.withLock { $0.outputPort & 0x02 != 0 } }

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        var level: Bool?
        let v: UInt8 = state.withLock { s in
            defer { level = update(&s) }
            if offset == 4 {  // 0x64: status
                var st = s.status
                if !s.queue.isEmpty { st.insert(.outputFull) }
                return st.rawValue
            }
            guard offset == 0, !s.queue.isEmpty else { return 0 }
            return s.queue.removeFirst()
        }
        if let level { irq.setLevel(level) }
        return UInt32(v)
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        let v = UInt8(truncatingIfNeeded: value)
        var level: Bool?
        let resetNow: Bool = state.withLock { s in
            defer { level = update(&s) }
            if offset == 4 {
                s.status.insert(.command)
                return command(&s, v)
            }
            guard offset == 0 else { return false }
            s.status.remove(.command)
            return data(&s, v)
        }
        if let level { irq.setLevel(level) }
        if resetNow { onReset() }
    }

    private func push(_ s: inout State, _ bytes: UInt8...) {
        for b in bytes where s.queue.count < I8042.queueLimit { s.queue.append(b) }
    }

    /// Controller commands (port 0x64). Returns true for a CPU reset.
    private func command(_ s: inout State, _ c: UInt8) -> Bool {
        switch c {
        case 0x20: push(&s, s.commandByte)
        case 0x60: s.pending = .commandByte
        case 0xA7: s.commandByte |= 0x20
        case 0xA8: s.commandByte &= ~0x20
        case 0xA9: push(&s, 0x00)  // aux interface test: OK
        case 0xAA:
            push(&s, 0x55)  // self test passed
            s.status.insert(.systemFlag)
        case 0xAB: push(&s, 0x00)  // keyboard interface test: OK
        case 0xAD: s.commandByte |= 0x10
        case 0xAE: s.commandByte &= ~0x10
        case 0xC0: push(&s, 0x00)  // input port
        case 0xD0: push(&s, s.outputPort)
        case 0xD1: s.pending = .outputPort
        case 0xD4: s.pending = .auxByte
        case 0xF0...0xFF:
            // Pulse output lines low for ~6 us; bit 0 is the CPU reset line.
            return c & 0x01 == 0
        default: break
        }
        return false
    }

    /// Data port writes: a parameter for the controller, else a keyboard command.
    private func data(_ s: inout State, _ v: UInt8) -> Bool {
        let pending = s.pending
        s.pending = .none
        switch pending {
        case .commandByte:
            s.commandByte = v
            if v & 0x04 != 0 { s.status.insert(.systemFlag) }
            return false
        case .outputPort:
            s.outputPort = v | 0x01
            return v & 0x01 == 0  // bit 0 clear holds the CPU in reset
        case .auxByte:
            return false  // no mouse: ignored
        case .keyboardLEDs, .keyboardScanSet, .keyboardRate:
            push(&s, 0xFA)
            return false
        case .none:
            break
        }
        switch v {
        case 0xFF: push(&s, 0xFA, 0xAA)        // reset: ACK, self-test passed
        case 0xF2: push(&s, 0xFA, 0xAB, 0x83)  // identify: MF2 keyboard
        case 0xED: push(&s, 0xFA); s.pending = .keyboardLEDs
        case 0xF0: push(&s, 0xFA); s.pending = .keyboardScanSet
        case 0xF3: push(&s, 0xFA); s.pending = .keyboardRate
        case 0xEE: push(&s, 0xEE)              // echo
        default: push(&s, 0xFA)                // ACK
        }
        return false
    }

    /// IRQ 1 is asserted while keyboard output waits and the command byte
    /// enables it. Returns the new level if it changed.
    private func update(_ s: inout State) -> Bool? {
        let level = !s.queue.isEmpty && s.commandByte & 0x01 != 0
        guard level != s.irqLevel else { return nil }
        s.irqLevel = level
        return level
    }
}
