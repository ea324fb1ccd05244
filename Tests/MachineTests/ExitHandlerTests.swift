import KVM
@testable import Machine
import Memory
import Synchronization
import Testing

final class PortRecorder: PortIODevice, MMIODevice {
    let log = Mutex([String]())
    func ioRead(offset: UInt16, size: Int) -> UInt32 { 0x1234_5678 & (size == 4 ? ~0 : (1 << (size * 8)) - 1) }
    func ioWrite(offset: UInt16, size: Int, value: UInt32) { log.withLock { $0.append("out \(offset) \(size) \(value)") } }
    func mmioRead(offset: UInt64, size: Int) -> UInt64 { 0x1122_3344_5566_7788 }
    func mmioWrite(offset: UInt64, size: Int, value: UInt64) { log.withLock { $0.append("mmio \(offset) \(size) \(value)") } }
    var entries: [String] { log.withLock { $0 } }
}

/// Synthetic exits fed to the exit handler, as Firecracker tests its
/// handle_kvm_exit: no /dev/kvm needed.
@Suite("Exit handler")
struct ExitHandlerTests {
    let ports = PortIOBus()
    let mmio = MMIOBus()
    let device = PortRecorder()

    init() throws {
        try ports.register(device, name: "rec", base: 0x100, length: 0x10)
        try mmio.register(device, name: "rec", base: 0xD000_0000, length: 0x1000)
    }

    @Test("an OUT exit reaches the device with its offset, size and value")
    func portWrite() {
        var data: [UInt8] = [0x34, 0x12, 0, 0]
        let action = data.withUnsafeMutableBytes { buf in
            handleExit(.io(PortIOExit(direction: .write, port: 0x104, size: 2, count: 1, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(action == .resume)
        #expect(device.entries == ["out 4 2 4660"])
    }

    @Test("an IN exit stores the device's value little-endian in the exit data")
    func portRead() {
        var data = [UInt8](repeating: 0, count: 4)
        _ = data.withUnsafeMutableBytes { buf in
            handleExit(.io(PortIOExit(direction: .read, port: 0x100, size: 4, count: 1, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(data == [0x78, 0x56, 0x34, 0x12])
    }

    @Test("rep outsb delivers every byte in order")
    func repOuts() {
        var data: [UInt8] = Array("abc".utf8)
        _ = data.withUnsafeMutableBytes { buf in
            handleExit(.io(PortIOExit(direction: .write, port: 0x101, size: 1, count: 3, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(device.entries == ["out 1 1 97", "out 1 1 98", "out 1 1 99"])
    }

    @Test("an IN from an unclaimed port reads all-ones")
    func unclaimedRead() {
        var data: [UInt8] = [0, 0]
        _ = data.withUnsafeMutableBytes { buf in
            handleExit(.io(PortIOExit(direction: .read, port: 0x80, size: 2, count: 1, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(data == [0xFF, 0xFF])
        #expect(ports.unclaimedAccesses == 1)
    }

    @Test("MMIO reads and writes of 8 bytes")
    func mmioAccess() {
        var data = [UInt8](repeating: 0, count: 8)
        _ = data.withUnsafeMutableBytes { buf in
            handleExit(.mmio(MMIOExit(address: 0xD000_0010, isWrite: false, length: 8, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(data == [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11])
        _ = data.withUnsafeMutableBytes { buf in
            handleExit(.mmio(MMIOExit(address: 0xD000_0020, isWrite: true, length: 4, data: buf.baseAddress!)),
                       ports: ports, mmio: mmio)
        }
        #expect(device.entries == ["mmio 32 4 1432778632"])  // 0x55667788
    }

    @Test("exits that end or reset the VM map to the right actions")
    func lifecycleExits() {
        #expect(handleExit(.shutdown, ports: ports, mmio: mmio) == .reset)
        #expect(handleExit(.systemEvent(type: 2), ports: ports, mmio: mmio) == .reset)
        #expect(handleExit(.hlt, ports: ports, mmio: mmio) == .halted)
        #expect(handleExit(.interrupted, ports: ports, mmio: mmio) == .interrupted)
        #expect(handleExit(.irqWindowOpen, ports: ports, mmio: mmio) == .interrupted)
        #expect(handleExit(.internalError(InternalErrorInfo(suberror: 1, data: [1, 0xf4cc])), ports: ports, mmio: mmio)
                == .fail("KVM_EXIT_INTERNAL_ERROR: emulation failure (suberror 1), data 0x1 0xf4cc"))
        #expect(handleExit(.failEntry(reason: 0x21, cpu: 3), ports: ports, mmio: mmio)
                == .fail("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x21 on host CPU 3"))
        #expect(handleExit(.unknown(99), ports: ports, mmio: mmio) == .fail("unhandled KVM exit reason 99"))
    }
}

@Suite("Stop reasons and lifecycle")
struct LifecycleTests {
    @Test("exit statuses: 0 normal, debug-exit's own, 2 on failure")
    func statuses() {
        #expect(StopReason.debugExit(status: 0x21).exitStatus == 0x21)
        #expect(StopReason.haltedForever.exitStatus == 0)
        #expect(StopReason.resetWithNoReboot.exitStatus == 0)
        #expect(StopReason.userQuit.exitStatus == 0)
        #expect(StopReason.failure("x").exitStatus == 2)
        #expect(StopReason.debugExit(status: 1).message == nil)
    }

    @Test("the first stop reason wins")
    func firstStopWins() throws {
        let l = try Lifecycle(startPaused: false)
        l.requestStop(.debugExit(status: 3))
        l.requestStop(.userQuit)
        #expect(l.stopReason == .debugExit(status: 3))
        #expect(l.runState == .stopping)
    }

    @Test("-S starts in prelaunch; resume runs; pause pauses")
    func runStates() throws {
        let l = try Lifecycle(startPaused: true)
        #expect(l.runState == .prelaunch)
        l.resume()
        #expect(l.runState == .running)
        l.pause()
        #expect(l.runState == .paused)
    }

    @Test("the VM halts for good only when every vCPU of the round reports stuck")
    func haltRounds() throws {
        let l = try Lifecycle(startPaused: false)
        var round = l.beginHaltCheck()
        l.reportHaltCheck(round: round, stuck: true, total: 2)
        l.reportHaltCheck(round: round, stuck: false, total: 2)
        #expect(l.stopReason == nil)
        round = l.beginHaltCheck()
        l.reportHaltCheck(round: round - 1, stuck: true, total: 2)  // stale round: ignored
        l.reportHaltCheck(round: round, stuck: true, total: 2)
        #expect(l.stopReason == nil)
        l.reportHaltCheck(round: round, stuck: true, total: 2)
        #expect(l.stopReason == .haltedForever)
    }

    @Test("a reset bumps the generation each vCPU applies once, and is announced once")
    func resets() throws {
        let l = try Lifecycle(startPaused: false)
        let g = l.resetGeneration
        l.requestReset(byGuest: true)
        l.requestReset(byGuest: false)
        #expect(l.resetGeneration == g + 2)
        let announced = l.takeUnannouncedResets().map { "\($0.guest) \($0.reason)" }
        #expect(announced == ["true guest-reset", "false host-qmp-system-reset"])
        #expect(l.takeUnannouncedResets().isEmpty)
    }

    @Test("with a monitor a failure holds the VM (internal-error) instead of stopping it")
    func holdOnFailure() throws {
        let l = try Lifecycle(startPaused: false)
        l.setHoldOnFailure(true)
        l.requestStop(.failure("boom"))
        #expect(l.runState == .internalError)
        #expect(l.stopReason == nil)
        #expect(l.takeHeldFailure() == "boom")
        #expect(l.takeHeldFailure() == nil)
        #expect(!l.resume())
        l.requestStop(.hostQuit)
        #expect(l.stopReason == .hostQuit)
    }

    @Test("shutdown causes use QEMU's names")
    func shutdownCauses() {
        #expect(StopReason.hostQuit.shutdownCause?.reason == "host-qmp-quit")
        #expect(StopReason.signal(15).shutdownCause?.reason == "host-signal")
        #expect(StopReason.resetWithNoReboot.shutdownCause?.guest == true)
        #expect(StopReason.failure("x").shutdownCause == nil)
    }
}

@Suite("Console escape (Ctrl-A)")
struct ConsoleEscapeTests {
    @Test("Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h helps, others pass")
    func sequences() {
        var e = ConsoleEscape()
        #expect(e.feed(UInt8(ascii: "a")) == .forward(UInt8(ascii: "a")))
        #expect(e.feed(0x01) == .none)
        #expect(e.feed(0x01) == .forward(0x01))
        #expect(e.feed(0x01) == .none)
        #expect(e.feed(UInt8(ascii: "h")) == .help)
        #expect(e.feed(0x01) == .none)
        #expect(e.feed(UInt8(ascii: "c")) == .forward(UInt8(ascii: "c")))
        #expect(e.feed(UInt8(ascii: "x")) == .forward(UInt8(ascii: "x")))
        #expect(e.feed(0x01) == .none)
        #expect(e.feed(UInt8(ascii: "x")) == .quit)
    }
}
