import Memory
import Synchronization

/// A 16550A UART (TI PC16550D datasheet) as a pure state machine: register
/// reads and writes in, bytes out through a `ByteSink`, and an interrupt line.
/// Host input arrives through `receive(_:)`.
///
/// Choices where an emulated line differs from a wire (documented in
/// docs/devices.md): the line is infinitely fast, so a byte written to THR is
/// sent at once and THR/TSR are empty again before the next access; the FIFO
/// character-timeout indication (IIR 0x0C) is given as soon as the receive
/// FIFO holds fewer bytes than the trigger level, since host input arrives in
/// bursts and four character times have always passed by the guest's next read.
public final class Serial16550: PortIODevice {
    /// Standard PC COM ports.
    public static let com1Base: UInt16 = 0x3F8
    public static let com1IRQ: UInt32 = 4
    public static let registerCount: UInt16 = 8
    /// The receive FIFO holds 16 bytes (datasheet §1, features).
    public static let fifoDepth = 16

    struct State {
        var ier = InterruptEnable()
        var fcr = FIFOControl()
        var lcr = LineControl()
        var mcr = ModemControl()
        var lsr: LineStatus = [.thrEmpty, .transmitterEmpty]
        var msrDeltas = ModemStatus()
        var scr: UInt8 = 0
        var divisor: UInt16 = 12  // 9600 baud from the 1.8432 MHz clock
        var rx = ByteRing(capacity: Serial16550.fifoDepth)
        /// THR-empty interrupt latched: set when THR empties (or ETBEI is
        /// enabled while it is empty), cleared by an IIR read that reports
        /// it or a THR write (datasheet Table 4, "Reset control").
        var thrInterrupt = false
        var irqLevel = false
    }

    private let state = Mutex(State())
    private let output: any ByteSink
    private let irq: any InterruptLine

    public init(output: any ByteSink, irq: any InterruptLine) {
        self.output = output
        self.irq = irq
    }

    /// Master reset (datasheet Table 5): registers to their reset values,
    /// FIFOs empty, interrupt low. SCR and the divisor are not reset.
    public func reset() {
        let level = state.withLock { s -> Bool in
            let keep = (s.scr, s.divisor)
            s = State()
            (s.scr, s.divisor) = keep
            return update(&s)
        }
        irq.setLevel(level)
    }

    // MARK: host side

    /// Offers host input. Returns how many bytes the receiver took: it stops
    /// at a full FIFO (the caller keeps the rest, so nothing is lost and
    /// nothing is buffered without bound).
    public func receive(_ bytes: UnsafeRawBufferPointer) -> Int {
        var taken = 0
        let change: Bool? = state.withLock { s in
            // In loopback the receiver is disconnected from the outside.
            if s.mcr.contains(.loopback) { return nil }
            let room = s.fcr.contains(.enable) ? Serial16550.fifoDepth : 1
            for b in bytes where s.rx.count < room {
                s.rx.push(b)
                taken += 1
            }
            if taken > 0 { s.lsr.insert(.dataReady) }
            return irqChange(&s)
        }
        if let change { irq.setLevel(change) }
        return taken
    }

    /// True when the guest could take at least one more byte.
    public var canReceive: Bool {
        state.withLock { s in
            !s.mcr.contains(.loopback) && s.rx.count < (s.fcr.contains(.enable) ? Serial16550.fifoDepth : 1)
        }
    }

    // MARK: guest side

    public func ioRead(offset: UInt16, size: Int) -> UInt32 {
        var change: Bool?
        let value: UInt8 = state.withLock { s in
            let v = readRegister(&s, offset)
            change = irqChange(&s)
            return v
        }
        if let change { irq.setLevel(change) }
        return UInt32(value)
    }

    public func ioWrite(offset: UInt16, size: Int, value: UInt32) {
        var sent: UInt8?
        let change: Bool? = state.withLock { s in
            sent = writeRegister(&s, offset, UInt8(truncatingIfNeeded: value))
            return irqChange(&s)
        }
        if let sent { output.write(sent) }
        if let change { irq.setLevel(change) }
    }

    private func readRegister(_ s: inout State, _ offset: UInt16) -> UInt8 {
        let dlab = s.lcr.contains(.divisorLatchAccess)
        switch offset {
        case 0 where dlab: return UInt8(truncatingIfNeeded: s.divisor)
        case 0:
            let b = s.rx.pop() ?? 0
            if s.rx.isEmpty { s.lsr.remove(.dataReady) }
            return b
        case 1 where dlab: return UInt8(truncatingIfNeeded: s.divisor >> 8)
        case 1: return s.ier.rawValue
        case 2:
            let id = identify(s)
            if id == .thrEmpty { s.thrInterrupt = false }
            return id.rawValue | (s.fcr.contains(.enable) ? InterruptIdentification.fifosEnabledBits : 0)
        case 3: return s.lcr.rawValue
        case 4: return s.mcr.rawValue
        case 5:
            let v = s.lsr
            s.lsr.subtract(LineStatus.errors.union(.errorInFIFO))
            return v.rawValue
        case 6:
            let v = modemLines(s).union(s.msrDeltas)
            s.msrDeltas = []
            return v.rawValue
        case 7: return s.scr
        default: return 0xFF
        }
    }

    /// Returns a byte to transmit, if the write sent one.
    private func writeRegister(_ s: inout State, _ offset: UInt16, _ v: UInt8) -> UInt8? {
        let dlab = s.lcr.contains(.divisorLatchAccess)
        switch offset {
        case 0 where dlab: s.divisor = (s.divisor & 0xFF00) | UInt16(v)
        case 0:
            // THR: the byte leaves at once (loopback: into our own receiver).
            s.thrInterrupt = true
            if s.mcr.contains(.loopback) {
                let room = s.fcr.contains(.enable) ? Serial16550.fifoDepth : 1
                if s.rx.count < room { s.rx.push(v) } else { s.lsr.insert(.overrunError) }
                s.lsr.insert(.dataReady)
                return nil
            }
            return v
        case 1 where dlab: s.divisor = (s.divisor & 0x00FF) | (UInt16(v) << 8)
        case 1:
            let old = s.ier
            s.ier = InterruptEnable(rawValue: v).intersection(.all)
            // Enabling ETBEI while THR is empty raises THRE at once.
            if !old.contains(.thrEmpty) && s.ier.contains(.thrEmpty) { s.thrInterrupt = true }
        case 2:
            let new = FIFOControl(rawValue: v)
            // Changing FCR0 clears both FIFOs (datasheet, FCR bit 0).
            if new.contains(.enable) != s.fcr.contains(.enable) || new.contains(.clearReceive) {
                s.rx.removeAll()
                s.lsr.remove(.dataReady)
            }
            // Bits 1-2 self-clear; keep enable, DMA mode and trigger bits.
            s.fcr = FIFOControl(rawValue: v & 0xC9)
        case 3: s.lcr = LineControl(rawValue: v)
        case 4:
            let before = modemLines(s)
            s.mcr = ModemControl(rawValue: v).intersection(.writable)
            noteModemChange(&s, from: before)
        case 7: s.scr = v
        default: break  // LSR and MSR are read-only (writes are "for factory test").
        }
        return nil
    }

    /// MSR bits 4-7. In loopback they follow MCR (datasheet, MCR bit 4):
    /// CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2. Otherwise a host is always
    /// "connected": CTS, DSR and DCD asserted.
    private func modemLines(_ s: State) -> ModemStatus {
        if s.mcr.contains(.loopback) {
            var m = ModemStatus()
            if s.mcr.contains(.rts) { m.insert(.cts) }
            if s.mcr.contains(.dtr) { m.insert(.dsr) }
            if s.mcr.contains(.out1) { m.insert(.ri) }
            if s.mcr.contains(.out2) { m.insert(.dcd) }
            return m
        }
        return [.cts, .dsr, .dcd]
    }

    private func noteModemChange(_ s: inout State, from before: ModemStatus) {
        let after = modemLines(s)
        if before.contains(.cts) != after.contains(.cts) { s.msrDeltas.insert(.deltaCTS) }
        if before.contains(.dsr) != after.contains(.dsr) { s.msrDeltas.insert(.deltaDSR) }
        if before.contains(.dcd) != after.contains(.dcd) { s.msrDeltas.insert(.deltaDCD) }
        // TERI: RI went from on to off.
        if before.contains(.ri) && !after.contains(.ri) { s.msrDeltas.insert(.trailingEdgeRI) }
    }

    /// The highest-priority pending and enabled interrupt (datasheet Table 4).
    private func identify(_ s: State) -> InterruptIdentification {
        if s.ier.contains(.lineStatus) && !s.lsr.intersection(LineStatus.errors).isEmpty {
            return .receiverLineStatus
        }
        if s.ier.contains(.receivedData) && !s.rx.isEmpty {
            if !s.fcr.contains(.enable) || s.rx.count >= s.fcr.triggerLevel { return .receivedDataAvailable }
            return .characterTimeout
        }
        if s.ier.contains(.thrEmpty) && s.thrInterrupt { return .thrEmpty }
        if s.ier.contains(.modemStatus) && !s.msrDeltas.isEmpty { return .modemStatus }
        return .none
    }

    /// The level of the interrupt pin as the PC sees it: the UART's INTRPT
    /// output gated by OUT2. In loopback, OUT2 is looped back internally and
    /// the external pin is forced inactive (datasheet, MCR bit 4), so no IRQ.
    private func update(_ s: inout State) -> Bool {
        let gated = s.mcr.contains(.out2) && !s.mcr.contains(.loopback)
        s.irqLevel = gated && identify(s) != .none
        return s.irqLevel
    }

    /// The new IRQ level if it changed.
    private func irqChange(_ s: inout State) -> Bool? {
        let before = s.irqLevel
        let after = update(&s)
        return before == after ? nil : after
    }

    // MARK: tests and diagnostics

    /// The current interrupt pin level.
    public var interruptAsserted: Bool { state.withLock { $0.irqLevel } }
    /// The divisor latch (DLM:DLL).
    public var divisor: UInt16 { state.withLock { $0.divisor } }
}
