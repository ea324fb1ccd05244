import CLinuxHost
import Devices
import Glibc
import Memory

/// The main thread's loop: host input for the serial port, signals, news
/// from the vCPU threads (through an eventfd), file descriptors other layers
/// watch (the QMP server), and the periodic "can any vCPU ever wake?" check.
/// Sleeps in epoll_wait; never spins. Everything here runs on the main thread.
final class EventLoop {
    private let parts: MachineParts
    private let inputFD: Int32?
    private let signals = SignalWatcher()
    private let epollFD: Int32
    /// Kicks every vCPU out of KVM_RUN; set when the threads exist.
    var kickAll: () -> Void = {}
    /// Announces events to monitors.
    var announce: (MachineEvent) -> Void = { _ in }

    /// Input taken from the host but not yet accepted by the UART (its FIFO
    /// was full). Bounded: stdin is not read again until this drains.
    private var pending: [UInt8] = []
    private var inputWatched = false
    private var escape = ConsoleEscape()
    private var handlers: [Int32: (UInt32) -> Void] = [:]

    /// How long the VM may be quiet before the halt check runs.
    static let idleCheckMilliseconds: Int32 = 300
    static let inputRetryMilliseconds: Int32 = 5
    static let readChunk = 64

    init(parts: MachineParts, inputFD: Int32?) {
        self.parts = parts
        self.inputFD = inputFD
        epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        add(parts.lifecycle.wakeFD)
        if signals.fd >= 0 { add(signals.fd) }
        if let inputFD { inputWatched = add(inputFD) }
    }

    deinit { close(epollFD) }

    @discardableResult
    private func add(_ fd: Int32, events: UInt32 = EPOLLIN.rawValue) -> Bool {
        var ev = epoll_event()
        ev.events = events
        ev.data.fd = fd
        return epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) == 0
    }

    private func remove(_ fd: Int32) {
        epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
    }

    /// Calls `handler` with the ready events whenever `fd` is ready.
    func watch(_ fd: Int32, events: UInt32, _ handler: @escaping (UInt32) -> Void) {
        handlers[fd] = handler
        if !add(fd, events: events) {
            var ev = epoll_event()
            ev.events = events
            ev.data.fd = fd
            epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &ev)
        }
    }

    func unwatch(_ fd: Int32) {
        handlers[fd] = nil
        remove(fd)
    }

    func run() -> StopReason {
        let lifecycle = parts.lifecycle
        var events = [epoll_event](repeating: epoll_event(), count: 16)
        while true {
            if let report = lifecycle.takeHeldFailure() {
                // A monitor is attached: keep serving it with the VM held.
                Log.writeLine("swiftvmm: " + report)
                Log.writeLine("swiftvmm: the VM is stopped (internal-error); 'quit' ends it")
                kickAll()
                parts.setDevicesPaused(true)
                announce(.stop)
            }
            if let reason = lifecycle.stopReason {
                kickAll()
                return reason
            }
            let timeout = pending.isEmpty ? EventLoop.idleCheckMilliseconds : EventLoop.inputRetryMilliseconds
            let n = epoll_wait(epollFD, &events, Int32(events.count), timeout)
            if n < 0 && errno != EINTR {
                return .failure("epoll_wait failed: \(errnoText(errno))")
            }
            for i in 0..<max(0, Int(n)) {
                let fd = events[i].data.fd
                if fd == lifecycle.wakeFD {
                    var value: UInt64 = 0
                    _ = read(fd, &value, 8)
                    // (The reset itself already kicked every vCPU.)
                    for r in lifecycle.takeUnannouncedResets() { announce(.reset(guest: r.guest, reason: r.reason)) }
                } else if fd == signals.fd {
                    var info = signalfd_siginfo()
                    _ = read(fd, &info, MemoryLayout<signalfd_siginfo>.size)
                    lifecycle.requestStop(.signal(Int32(info.ssi_signo)))
                } else if fd == inputFD {
                    readInput(fd)
                } else if let handler = handlers[fd] {
                    handler(events[i].events)
                }
            }
            deliverPending()
            if n == 0 && pending.isEmpty && lifecycle.runState == .running {
                _ = lifecycle.beginHaltCheck()
                kickAll()
            }
        }
    }

    private func readInput(_ fd: Int32) {
        var chunk = [UInt8](repeating: 0, count: EventLoop.readChunk)
        let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if got < 0 && (errno == EINTR || errno == EAGAIN) { return }
        if got <= 0 {
            remove(fd)  // EOF or error: the guest keeps running without input
            inputWatched = false
            return
        }
        for b in chunk[0..<got] {
            switch escape.feed(b) {
            case .forward(let byte): pending.append(byte)
            case .quit: parts.lifecycle.requestStop(.userQuit)
            case .help: ConsoleEscape.helpText.utf8.forEach { FileDescriptorSink(fd: 1, ownsFD: false).write($0) }
            case .none: break
            }
        }
        if !pending.isEmpty && inputWatched {
            remove(fd)  // back-pressure: read no more until the UART took this
            inputWatched = false
        }
    }

    private func deliverPending() {
        guard !pending.isEmpty, let serial = parts.serial else {
            if parts.serial == nil { pending.removeAll() }
            return
        }
        let taken = pending.withUnsafeBytes { serial.receive($0) }
        pending.removeFirst(taken)
        if pending.isEmpty, let inputFD, !inputWatched {
            inputWatched = add(inputFD)
        }
    }
}

/// SIGINT, SIGTERM and SIGHUP arrive as a readable signalfd, so the loop can
/// restore the terminal and stop cleanly. Every thread spawnThread starts
/// blocks them too.
final class SignalWatcher {
    let fd: Int32

    init() {
        var set = terminationSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
        fd = signalfd(-1, &set, Int32(SFD_CLOEXEC))
    }

    deinit { if fd >= 0 { close(fd) } }
}
