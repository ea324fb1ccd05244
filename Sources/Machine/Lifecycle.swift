import CLinuxHost
import Glibc
import Synchronization

/// The VM's run state and stop request, shared by the vCPU threads and the
/// event loop. The first stop reason wins. The event loop sleeps in epoll and
/// is woken through an eventfd.
public final class Lifecycle: Sendable {
    public enum RunState: Sendable, Equatable { case prelaunch, running, paused, stopping }

    struct State {
        var runState: RunState
        var stopReason: StopReason?
        /// Bumped on every guest reset; each vCPU thread applies it once.
        var resetGeneration = 0
        /// Halt check: vCPUs that reported "can never wake" in this round.
        var haltRound = 0
        var haltReports = 0
        var haltStuck = 0
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

    /// Asks the VM to stop; later requests are ignored.
    public func requestStop(_ reason: StopReason) {
        let first = state.withLock { s -> Bool in
            guard s.stopReason == nil else { return false }
            s.stopReason = reason
            s.runState = .stopping
            return true
        }
        if first {
            gate.set(open: true)  // let paused vCPU threads see the stop
            wake()
        }
    }

    public func requestReset() {
        state.withLock { $0.resetGeneration += 1 }
        wake()
    }

    /// Starts or resumes the vCPUs (from prelaunch or paused).
    public func resume() {
        state.withLock { s in if s.runState != .stopping { s.runState = .running } }
        gate.set(open: true)
    }

    public func pause() {
        state.withLock { s in if s.runState == .running { s.runState = .paused } }
        gate.set(open: false)
    }

    /// Blocks a vCPU thread while the VM is paused.
    func waitUntilRunnable() { gate.wait() }

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
        while !isOpen { pthread_cond_wait(cond, mutex) }
        pthread_mutex_unlock(mutex)
    }
}
