@testable import Devices
import Testing

/// Register-by-register checks against the TI PC16550D datasheet.
@Suite("16550A UART")
struct Serial16550Tests {
    // Register offsets (datasheet Table 2).
    let RBR: UInt16 = 0, THR: UInt16 = 0, IER: UInt16 = 1, IIR: UInt16 = 2, FCR: UInt16 = 2
    let LCR: UInt16 = 3, MCR: UInt16 = 4, LSR: UInt16 = 5, MSR: UInt16 = 6, SCR: UInt16 = 7

    let irq = FakeInterruptLine()
    let sink = CollectingSink()
    let uart: Serial16550

    init() { uart = Serial16550(output: sink, irq: irq) }

    func read(_ r: UInt16) -> UInt8 { UInt8(uart.ioRead(offset: r, size: 1)) }
    func write(_ r: UInt16, _ v: UInt8) { uart.ioWrite(offset: r, size: 1, value: UInt32(v)) }
    func receive(_ s: String) -> Int { Array(s.utf8).withUnsafeBytes { uart.receive($0) } }

    @Test("reset values (Table 5): IER 0, IIR 01, LCR 0, MCR 0, LSR 60, MSR lines")
    func resetValues() {
        #expect(read(IER) == 0)
        #expect(read(IIR) == 0x01)
        #expect(read(LCR) == 0)
        #expect(read(MCR) == 0)
        #expect(read(LSR) == 0x60)
        #expect(read(MSR) == 0xB0)  // CTS, DSR, DCD: a host is connected
        #expect(!irq.level)
    }

    @Test("THR writes go to the sink at once; THRE and TEMT stay set")
    func transmit() {
        for b in "Hi\n".utf8 { write(THR, b) }
        #expect(sink.collected == Array("Hi\n".utf8))
        #expect(read(LSR) & 0x60 == 0x60)
    }

    @Test("DLAB switches offsets 0 and 1 to the divisor latch")
    func divisorLatch() {
        write(LCR, 0x83)
        write(0, 0x01)  // DLL
        write(1, 0x02)  // DLM
        #expect(read(0) == 0x01)
        #expect(read(1) == 0x02)
        #expect(uart.divisor == 0x0201)
        write(LCR, 0x03)
        #expect(read(IER) == 0)  // IER untouched by the divisor writes
        #expect(sink.collected.isEmpty)  // a DLL write is not a THR write
        #expect(read(LCR) == 0x03)
    }

    @Test("scratch register keeps its value")
    func scratch() {
        write(SCR, 0x5A)
        #expect(read(SCR) == 0x5A)
    }

    @Test("IER keeps bits 0-3 only")
    func ierMask() {
        write(IER, 0xFF)
        #expect(read(IER) == 0x0F)
    }

    @Test("enabling ETBEI with THR empty raises THRE; reading IIR clears it")
    func thrEmptyInterrupt() {
        write(MCR, 0x08)  // OUT2: the PC's IRQ gate
        write(IER, 0x02)
        #expect(irq.level)
        #expect(read(IIR) == 0x02)
        #expect(!irq.level)
        #expect(read(IIR) == 0x01)
        // Writing THR empties it again at once: THRE again.
        write(THR, UInt8(ascii: "x"))
        #expect(irq.level)
        #expect(read(IIR) == 0x02)
    }

    @Test("OUT2 clear: the interrupt is pending in IIR but the IRQ line stays low")
    func out2Gates() {
        write(IER, 0x02)
        #expect(!irq.level)
        #expect(read(IIR) == 0x02)
    }

    @Test("received data: DR set, IIR 04 in non-FIFO mode, one byte of room, RBR read clears")
    func receiveNonFIFO() {
        write(MCR, 0x08)
        write(IER, 0x01)
        #expect(receive("ab") == 1)  // 16450 mode: a single holding register
        #expect(read(LSR) & 0x01 == 0x01)
        #expect(irq.level)
        #expect(read(IIR) == 0x04)
        #expect(read(RBR) == UInt8(ascii: "a"))
        #expect(read(LSR) & 0x01 == 0)
        #expect(!irq.level)
        #expect(uart.canReceive)
    }

    @Test("FIFO mode: 16 bytes of room, IIR C0 bits, trigger level and character timeout")
    func receiveFIFO() {
        write(MCR, 0x08)
        write(IER, 0x01)
        write(FCR, 0x81)  // enable, trigger level 8
        #expect(read(IIR) & 0xC0 == 0xC0)
        #expect(receive("abc") == 3)
        // Below the trigger level: the character timeout indication.
        #expect(read(IIR) == 0xCC)
        #expect(receive("defgh") == 5)
        #expect(read(IIR) == 0xC4)
        #expect(receive(String(repeating: "z", count: 20)) == 8)
        #expect(!uart.canReceive)
        var got = ""
        while read(LSR) & 0x01 != 0 { got.append(Character(UnicodeScalar(read(RBR)))) }
        #expect(got == "abcdefgh" + String(repeating: "z", count: 8))
        #expect(read(IIR) == 0xC1)
        #expect(!irq.level)
    }

    @Test("FCR bit 1 clears the receive FIFO; turning FIFOs off clears them too")
    func fifoClear() {
        write(FCR, 0x01)
        #expect(receive("abcd") == 4)
        write(FCR, 0x03)
        #expect(read(LSR) & 0x01 == 0)
        #expect(receive("ab") == 2)
        write(FCR, 0x00)
        #expect(read(LSR) & 0x01 == 0)
        #expect(read(IIR) & 0xC0 == 0)
    }

    @Test("loopback: THR comes back on RBR, nothing leaves, host input refused")
    func loopback() {
        write(MCR, 0x10)
        write(THR, 0x42)
        #expect(sink.collected.isEmpty)
        #expect(read(LSR) & 0x01 == 0x01)
        #expect(read(RBR) == 0x42)
        #expect(receive("x") == 0)
    }

    @Test("loopback overrun sets OE; reading LSR clears it; ELSI raises IIR 06")
    func overrun() {
        write(MCR, 0x10)
        write(IER, 0x04)
        write(THR, 1)
        write(THR, 2)  // no FIFO: one holding register, second byte overruns
        #expect(read(IIR) == 0x06)
        #expect(read(LSR) & 0x02 == 0x02)
        #expect(read(LSR) & 0x02 == 0)
        #expect(read(IIR) == 0x01)
    }

    @Test("loopback MSR mirrors MCR: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2; deltas clear on read")
    func loopbackModemStatus() {
        write(MCR, 0x10)
        _ = read(MSR)
        write(MCR, 0x10 | 0x01)  // DTR
        #expect(read(MSR) == 0x20 | 0x02)  // DSR, delta DSR
        #expect(read(MSR) == 0x20)
        write(MCR, 0x10 | 0x0F)
        #expect(read(MSR) == 0xF0 | 0x01 | 0x08)  // + delta CTS, delta DCD
        write(MCR, 0x10 | 0x0B)  // RI off: trailing edge
        #expect(read(MSR) & 0x04 == 0x04)
    }

    @Test("modem status interrupt has the lowest priority")
    func priorities() {
        write(MCR, 0x10 | 0x08)
        write(IER, 0x0F)
        write(MCR, 0x10 | 0x09)  // DTR change: modem status pending
        write(THR, 7)            // data ready (loopback) + THRE
        #expect(read(IIR) == 0x04)  // received data first
        _ = read(RBR)
        #expect(read(IIR) == 0x02)  // then THR empty (cleared by this read)
        #expect(read(IIR) == 0x00)  // then modem status
        _ = read(MSR)
        #expect(read(IIR) == 0x01)
        #expect(!irq.level)  // loopback forces the IRQ pin inactive throughout
    }

    @Test("reset restores the registers, keeps SCR and the divisor, lowers the IRQ")
    func reset() {
        write(SCR, 9)
        write(LCR, 0x80); write(0, 3); write(LCR, 0)
        write(MCR, 0x08); write(IER, 0x02)
        #expect(irq.level)
        uart.reset()
        #expect(!irq.level)
        #expect(read(IER) == 0)
        #expect(read(MCR) == 0)
        #expect(read(SCR) == 9)
        #expect(uart.divisor == 3)
    }

    @Test("reads of any size return the byte register; offsets past 7 read FF")
    func sizes() {
        write(SCR, 0x77)
        #expect(uart.ioRead(offset: 7, size: 4) == 0x77)
        #expect(uart.ioRead(offset: 8, size: 1) == 0xFF)
        uart.ioWrite(offset: 9, size: 1, value: 1)  // ignored, no crash
    }
}
