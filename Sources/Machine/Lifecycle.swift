import CLinuxHost
import Glibc
import Synchronization

/// The VM's run state and stop request, shared by the vCPU threads and the
/// event loop. The first stop reason wins. The event loop sleeps in epoll and
/// is woken through an eventfd.
public final class Lifecycle: Sendable {
    public enum RunState: Sendable, Equatable {
        case prelaunch, running, paused, stopping
        /// A vCPU failed and a monitor is attached: the VM is held for
        /// inspection (QEMU's internal-error state) until `quit`.
        case internalError
    }

    struct State {
        var runState: RunState
        var stopReason: StopReason?
        /// Bumped on every guest reset; each vCPU thread applies it once.
        var resetGeneration = 0
        /// Halt check: vCPUs that reported "can never wake" in this round.
        var haltRound = 0
        var haltReports = 0
        var haltStuck = 0
        /// Resets not yet announced to monitors: (by the guest?, reason).
        var unannouncedResets: [(guest: Bool, reason: String)] = []
        /// With a monitor, a failure holds the VM instead of ending it.
        var holdOnFailure = false
        var heldFailure: String?
    }

    private let state: Mutex<State>
    /// eventfd the event loop polls; written when there is news.
    let wakeFD: Int32
    /// Lets paused vCPU threads sleep without spinning.
    private let gate = RunGate()

    init(startPaused: Bool) throws(MachineError) {
        state = Mutex(State(runState: startPaused ? .prelaunch : .running))
        wakeFD = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        if wakeFD < 0 { throw .host("eventfd failed: \(errnoText(errno))") }
        gate.set(open: !startPaused)
    }

    deinit { close(wakeFD) }

    public var runState: RunState { state.withLock { $0.runState } }
    public var stopReason: StopReason? { state.withLock { $0.stopReason } }
    var resetGeneration: Int { state.withLock { $0.resetGeneration } }

    /// Asks the VM to stop; later requests are ignored. With a monitor
    /// attached, a failure holds the VM in `internalError` instead.
    public func requestStop(_ reason: StopReason) {
        enum Outcome { case ignored, stopping, held }
        let outcome = state.withLock { s -> Outcome in
            guard s.stopReason == nil else { return .ignored }
            if case .failure(let report) = reason, s.holdOnFailure {
                guard s.runState != .internalError else { return .ignored }
                s.runState = .internalError
                s.heldFailure = report
                return .held
            }
            s.stopReason = reason
            s.runState = .stopping
            return .stopping
        }
        switch outcome {
        case .ignored: return
        case .stopping: gate.set(open: true)  // let parked vCPU threads see the stop
        case .held: gate.set(open: false)
        }
        wake()
    }

    func setHoldOnFailure(_ hold: Bool) { state.withLock { $0.holdOnFailure = hold } }

    /// The failure report of a held VM, once (the event loop prints it).
    func takeHeldFailure() -> String? {
        state.withLock { s in
            defer { s.heldFailure = nil }
            return s.heldFailure
        }
    }

    /// Every vCPU reloads its reset state; monitors hear a RESET event.
    public func requestReset(byGuest: Bool) {
        state.withLock { s in
            s.resetGeneration += 1
            s.unannouncedResets.append(byGuest ? (true, "guest-reset") : (false, "host-qmp-system-reset"))
        }
        wake()
    }

    func takeUnannouncedResets() -> [(guest: Bool, reason: String)] {
        state.withLock { s in
            defer { s.unannouncedResets.removeAll() }
            return s.unannouncedResets
        }
    }

    /// Starts or resumes the vCPUs (from prelaunch or paused); false when
    /// the VM cannot run (stopping or held after a failure).
    @discardableResult
    public func resume() -> Bool {
        let ok = state.withLock { s -> Bool in
            guard s.runState == .prelaunch || s.runState == .paused || s.runState == .running else { return false }
            s.runState = .running
            return true
        }
        if ok { gate.set(open: true) }
        return ok
    }

    /// Parks the vCPUs at their next exit. From prelaunch the VM becomes
    /// paused too (as QEMU's `stop` does). True only when it was running.
    @discardableResult
    public func pause() -> Bool {
        let wasRunning = state.withLock { s -> Bool in
            if s.runState == .prelaunch { s.runState = .paused }
            guard s.runState == .running else { return false }
            s.runState = .paused
            return true
        }
        if wasRunning { gate.set(open: false) }
        return wasRunning
    }

    /// Blocks a vCPU thread while the VM is paused.
    func waitUntilRunnable() { gate.wait() }

    /// vCPU threads parked at the gate right now.
    var parkedVCPUs: Int { gate.waiters }

    /// Starts a halt-check round for `vcpus` vCPUs; returns its number.
    func beginHaltCheck() -> Int {
        state.withLock { s in
            s.haltRound += 1
            s.haltReports = 0
            s.haltStuck = 0
            return s.haltRound
        }
    }

    /// A vCPU's answer in halt-check round `round`. When all `total` answered
    /// and all are stuck, the VM can never run again.
    func reportHaltCheck(round: Int, stuck: Bool, total: Int) {
        let allStuck = state.withLock { s -> Bool in
            guard s.haltRound == round else { return false }
            s.haltReports += 1
            if stuck { s.haltStuck += 1 }
            return s.haltReports == total && s.haltStuck == total
        }
        if allStuck { requestStop(.haltedForever) }
    }

    var currentHaltRound: Int { state.withLock { $0.haltRound } }

    func wake() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }
}

/// A open/closed gate on a pthread mutex and condition variable.
final class RunGate: @unchecked Sendable {
    // The pthread objects live on the heap and are only touched through
    // pthread calls, which synchronise them.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let cond = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var isOpen = true
    private var waiting = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
    }

    deinit {
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    func set(open: Bool) {
        pthread_mutex_lock(mutex)
        isOpen = open
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
    }

    func wait() {
        pthread_mutex_lock(mutex)
        waiting += 1
        while !isOpen { pthread_cond_wait(cond, mutex) }
        waiting -= 1
        pthread_mutex_unlock(mutex)
    }

    /// Threads blocked in `wait` (a gate that is open has none for long).
    var waiters: Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return isOpen ? 0 : waiting
    }
}
