import CKVM
import Devices
import KVM
import Machine
import Memory

/// The VMM's own work per exit, off-line: `handleExit` fed synthetic port
/// I/O exits in a loop (no KVM, no guest), so the figure is not drowned in
/// the host's exit cost. Prints ns per exit for the paths the exit
/// benchmark's guest takes: an OUT to an unclaimed port, and the UART's
/// LSR read and THR write.
struct NullSink: ByteSink { func write(_ byte: UInt8) {} }
struct NullLine: InterruptLine { func setLevel(_ high: Bool) {} }

let ports = PortIOBus()
let mmio = MMIOBus()
let uart = Serial16550(output: NullSink(), irq: NullLine())
try ports.register(uart, name: "serial", base: 0x3F8, length: 8)
try ports.register(DebugExit { _ in }, name: "debug-exit", base: 0xF4, length: 4)

let iterations = 5_000_000
let data = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
data.storeBytes(of: 0, as: UInt64.self)

func measure(_ name: String, _ exit: VCPUExit) {
    var sink = 0
    let start = ckvm_monotonic_ns()
    for _ in 0..<iterations {
        if case .resume = handleExit(exit, ports: ports, mmio: mmio) { sink &+= 1 }
    }
    let ns = Double(ckvm_monotonic_ns() - start) / Double(iterations)
    print("exit-path \(name): \((ns * 10).rounded() / 10) ns/exit (\(sink == iterations ? "ok" : "?"))")
}

measure("out to unclaimed port 0x80", .io(PortIOExit(direction: .write, port: 0x80, size: 1, count: 1, data: data)))
measure("in from UART LSR", .io(PortIOExit(direction: .read, port: 0x3FD, size: 1, count: 1, data: data)))
measure("out to UART THR", .io(PortIOExit(direction: .write, port: 0x3F8, size: 1, count: 1, data: data)))
