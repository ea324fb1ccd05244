/// Register bits of the 16550A, named as in the TI PC16550D datasheet
/// (Table 2, "Summary of Accessible Registers"). One OptionSet per register so
/// bits of one register cannot be tested against another.

/// IER, Interrupt Enable Register (offset 1, DLAB=0).
struct InterruptEnable: OptionSet, Sendable {
    let rawValue: UInt8
    static let receivedData = InterruptEnable(rawValue: 1 << 0)   // ERBFI
    static let thrEmpty = InterruptEnable(rawValue: 1 << 1)       // ETBEI
    static let lineStatus = InterruptEnable(rawValue: 1 << 2)     // ELSI
    static let modemStatus = InterruptEnable(rawValue: 1 << 3)    // EDSSI
    static let all: InterruptEnable = [.receivedData, .thrEmpty, .lineStatus, .modemStatus]
}

/// FCR, FIFO Control Register (offset 2, write only).
struct FIFOControl: OptionSet, Sendable {
    let rawValue: UInt8
    static let enable = FIFOControl(rawValue: 1 << 0)
    static let clearReceive = FIFOControl(rawValue: 1 << 1)
    static let clearTransmit = FIFOControl(rawValue: 1 << 2)
    static let dmaMode = FIFOControl(rawValue: 1 << 3)
    /// Bits 6-7: receiver trigger level 1, 4, 8 or 14 bytes.
    var triggerLevel: Int { [1, 4, 8, 14][Int(rawValue >> 6)] }
}

/// LCR, Line Control Register (offset 3).
struct LineControl: OptionSet, Sendable {
    let rawValue: UInt8
    static let divisorLatchAccess = LineControl(rawValue: 1 << 7)  // DLAB
}

/// MCR, Modem Control Register (offset 4); bits 5-7 are always 0.
struct ModemControl: OptionSet, Sendable {
    let rawValue: UInt8
    static let dtr = ModemControl(rawValue: 1 << 0)
    static let rts = ModemControl(rawValue: 1 << 1)
    static let out1 = ModemControl(rawValue: 1 << 2)
    /// On a PC, OUT2 gates the UART's interrupt onto the ISA IRQ line.
    static let out2 = ModemControl(rawValue: 1 << 3)
    static let loopback = ModemControl(rawValue: 1 << 4)
    static let writable = ModemControl(rawValue: 0x1F)
}

/// LSR, Line Status Register (offset 5).
struct LineStatus: OptionSet, Sendable {
    let rawValue: UInt8
    static let dataReady = LineStatus(rawValue: 1 << 0)
    static let overrunError = LineStatus(rawValue: 1 << 1)
    static let parityError = LineStatus(rawValue: 1 << 2)
    static let framingError = LineStatus(rawValue: 1 << 3)
    static let breakInterrupt = LineStatus(rawValue: 1 << 4)
    static let thrEmpty = LineStatus(rawValue: 1 << 5)
    static let transmitterEmpty = LineStatus(rawValue: 1 << 6)
    static let errorInFIFO = LineStatus(rawValue: 1 << 7)
    /// Bits 1-4 raise the receiver line status interrupt; reading LSR clears them.
    static let errors: LineStatus = [.overrunError, .parityError, .framingError, .breakInterrupt]
}

/// MSR, Modem Status Register (offset 6): deltas in bits 0-3, lines in 4-7.
struct ModemStatus: OptionSet, Sendable {
    let rawValue: UInt8
    static let deltaCTS = ModemStatus(rawValue: 1 << 0)
    static let deltaDSR = ModemStatus(rawValue: 1 << 1)
    static let trailingEdgeRI = ModemStatus(rawValue: 1 << 2)
    static let deltaDCD = ModemStatus(rawValue: 1 << 3)
    static let cts = ModemStatus(rawValue: 1 << 4)
    static let dsr = ModemStatus(rawValue: 1 << 5)
    static let ri = ModemStatus(rawValue: 1 << 6)
    static let dcd = ModemStatus(rawValue: 1 << 7)
    static let deltas = ModemStatus(rawValue: 0x0F)
}

/// IIR, Interrupt Identification Register (offset 2, read), Table 4:
/// bit 0 is 0 when an interrupt is pending, bits 1-3 name the highest one.
enum InterruptIdentification: UInt8, Sendable {
    case none = 0x01
    case receiverLineStatus = 0x06   // priority 1
    case receivedDataAvailable = 0x04 // priority 2
    case characterTimeout = 0x0C     // priority 2 (FIFO mode)
    case thrEmpty = 0x02             // priority 3
    case modemStatus = 0x00          // priority 4
    /// Bits 6-7 read 11 when FCR bit 0 (FIFO enable) is set.
    static let fifosEnabledBits: UInt8 = 0xC0
}
