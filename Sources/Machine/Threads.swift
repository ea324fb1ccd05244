import CLinuxHost
import Glibc

/// Starts a named POSIX thread running `body`. The vCPU loop needs a real
/// thread of its own (it blocks in KVM_RUN), so no Dispatch or Task here.
func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(MachineError) -> pthread_t {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, _ name: String) {
            self.body = body
            self.name = name
        }
    }
    let box = Unmanaged.passRetained(Box(body, name)).toOpaque()
    var thread = pthread_t()
    let r = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        // The termination signals belong to the event loop's signalfd: a
        // thread that left them unblocked would take their default action
        // (the process dies without its clean stop). Blocked here, so it holds
        // whenever and by whichever thread this one was started.
        var set = terminationSignals
        pthread_sigmask(SIG_BLOCK, &set, nil)
        _ = linux_host_set_thread_name(box.name)
        box.body()
        return nil
    }, box)
    if r != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        throw .host("cannot start thread \(name): \(errnoText(r))")
    }
    return thread
}

/// SIGINT, SIGTERM and SIGHUP: a clean stop, read from the event loop's signalfd.
var terminationSignals: sigset_t {
    var set = sigset_t()
    sigemptyset(&set)
    for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
    return set
}

/// The signal used to kick a vCPU thread out of KVM_RUN.
let kickSignal = SIGUSR1

/// Installs a do-nothing handler for the kick signal, without SA_RESTART, so
/// a blocked KVM_RUN returns EINTR, and unblocks the signal in case our parent
/// left it blocked (the mask is inherited through exec and by new threads).
func installKickHandler() {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = { _ in }
    sigemptyset(&action.sa_mask)
    action.sa_flags = 0
    sigaction(kickSignal, &action, nil)
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, kickSignal)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

func errnoText(_ e: Int32) -> String { String(cString: strerror(e)) }
