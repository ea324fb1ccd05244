import Glibc
import KVM
import Synchronization

/// What other threads may do to a vCPU: kick it out of KVM_RUN. Shared by
/// the machine parts (a device asking for a reset, the event loop, QMP)
/// and the vCPU's own thread, which records who it is.
final class VCPUHandle: Sendable {
    let vcpu: VCPU
    let index: Int
    /// pthread_self() of the vCPU thread once it runs; 0 before.
    let thread = Atomic<UInt>(0)
    /// The Linux thread id (gettid) once it runs; 0 before.
    let threadID = Atomic<Int32>(0)
    /// Set when the thread has left its loop.
    let finished = Atomic<Bool>(false)

    init(vcpu: VCPU, index: Int) {
        self.vcpu = vcpu
        self.index = index
    }

    /// Makes the vCPU leave KVM_RUN now (signal) or at its next entry
    /// (immediate_exit, for a thread not yet in KVM_RUN). Any thread.
    func kick() {
        guard !finished.load(ordering: .acquiring) else { return }
        vcpu.requestImmediateExit()
        let t = thread.load(ordering: .acquiring)
        if t != 0 { pthread_kill(pthread_t(t), kickSignal) }
    }
}
