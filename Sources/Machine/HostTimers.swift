import CKVM
import CLinuxHost
import Devices
import Glibc

/// The PIT's 1.193182 MHz clock, derived from CLOCK_MONOTONIC.
struct HostTickSource: TickSource {
    var now: UInt64 { HostTickSource.ticks(fromNanoseconds: ckvm_monotonic_ns()) }

    static func ticks(fromNanoseconds ns: UInt64) -> UInt64 {
        let (high, low) = ns.multipliedFullWidth(by: PIT8254.baseHz)
        return UInt64(1_000_000_000).dividingFullWidth((high, low)).quotient
    }

    /// The first nanosecond at or after which `ticks` have passed.
    static func nanoseconds(fromTicks ticks: UInt64) -> UInt64 {
        let (high, low) = ticks.multipliedFullWidth(by: 1_000_000_000)
        let (q, r) = PIT8254.baseHz.dividingFullWidth((high, low))
        return r == 0 ? q : q + 1
    }
}

/// A timerfd armed at absolute CLOCK_MONOTONIC times; the event loop reads
/// it and calls the PIT. arm() may be called from any thread.
final class TimerFDAlarm: TickAlarm {
    let fd: Int32

    init() throws(MachineError) {
        fd = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        if fd < 0 { throw .host("timerfd_create failed: \(errnoText(errno))") }
    }

    deinit { close(fd) }

    func arm(atTick tick: UInt64?) {
        var spec = itimerspec()
        if let tick {
            let ns = max(1, HostTickSource.nanoseconds(fromTicks: tick))  // 0 would disarm
            spec.it_value.tv_sec = Int(ns / 1_000_000_000)
            spec.it_value.tv_nsec = Int(ns % 1_000_000_000)
        }
        timerfd_settime(fd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
    }

    /// Consumes the expiration count.
    func acknowledge() {
        var expirations: UInt64 = 0
        _ = read(fd, &expirations, 8)
    }
}
