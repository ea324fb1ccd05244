import Boot
import CLinuxHost
import CKVM
import Glibc
import KVM
import Memory
import Synchronization

/// One vCPU's thread: KVM_RUN, handle the exit, repeat, until the VM stops.
final class VCPURunner: @unchecked Sendable {
    // Immutable after init; `vcpu` is driven only from this runner's thread
    // except for `requestImmediateExit` (see VCPU).
    let handle: VCPUHandle
    var vcpu: VCPU { handle.vcpu }
    var index: Int { handle.index }
    private let machine: MachineParts
    let stats: ExitStats?

    init(handle: VCPUHandle, machine: MachineParts, stats: ExitStats?) {
        self.handle = handle
        self.machine = machine
        self.stats = stats
    }

    /// The thread body.
    func run() {
        handle.threadID.store(linux_host_gettid(), ordering: .relaxed)
        handle.thread.store(UInt(pthread_self()), ordering: .releasing)
        defer { handle.finished.store(true, ordering: .releasing) }
        loop()
    }

    private func loop() {
        let lifecycle = machine.lifecycle
        var seenReset = lifecycle.resetGeneration
        var seenHaltRound = lifecycle.currentHaltRound
        lifecycle.waitUntilRunnable()
        if lifecycle.stopReason != nil { return }
        var lastReturn: UInt64 = 0
        while true {
            if let stats, lastReturn != 0 { stats.record(ckvm_monotonic_ns() &- lastReturn) }
            let exit: VCPUExit
            do {
                exit = try vcpu.runOnce()
            } catch {
                fail(error.description)
                return
            }
            if let stats {
                lastReturn = ckvm_monotonic_ns()
                if case .io = exit { stats.noteIO(at: lastReturn) }
            }
            switch handleExit(exit, ports: machine.ports, mmio: machine.mmio) {
            case .resume:
                continue
            case .interrupted:
                break
            case .reset:
                if Log.isDebug {
                    Log.debug(CrashReport.describe(vcpu: vcpu, index: index, memory: machine.memory, reason: "triple fault"))
                }
                Log.info("guest reset (triple fault)")
                machine.guestRequestedReset()
                if lifecycle.stopReason != nil { return }
            case .halted:
                // Only without an in-kernel LAPIC: HLT with IF=0 never ends.
                if let regs = try? vcpu.registers(), regs.rflags & Self.interruptFlag == 0 {
                    lifecycle.requestStop(.haltedForever)
                    return
                }
            case .fail(let why):
                if case .internalError(let info) = exit, info.isEmulationFailure, completeForHost() { continue }
                fail(why)
                return
            }
            // Interrupted, or after a reset: see what was asked of us.
            lastReturn = 0
            if lifecycle.stopReason != nil { return }
            if lifecycle.runState != .running {
                lifecycle.waitUntilRunnable()
                if lifecycle.stopReason != nil { return }
            }
            let generation = lifecycle.resetGeneration
            if generation != seenReset {
                seenReset = generation
                applyResetState()
            }
            let round = lifecycle.currentHaltRound
            if round != seenHaltRound {
                seenHaltRound = round
                lifecycle.reportHaltCheck(round: round, stuck: canNeverWake(), total: machine.vcpuCount)
            }
        }
    }

    static let interruptFlag: UInt64 = 1 << 9

    /// An instruction the host's emulator refused: completed by the VMM if
    /// EmulationFallback knows it exactly (counted; the first of each kind
    /// is logged, every one with -d fallbacks), else false.
    private func completeForHost() -> Bool {
        guard let (done, rip) = EmulationFallback.complete(vcpu: vcpu, memory: machine.memory) else { return false }
        let first = machine.fallbacks.count(done)
        if machine.config.logFallbacks {
            Log.writeLine("swiftvmm: vCPU \(index): completed \(done.name) at RIP=\(CrashReport.h(rip)) for the host's emulator")
        } else if first {
            Log.warning("vCPU \(index): the host's emulator refused \(done.name); the VMM completes it "
                     + "(counted in query-stats, each logged with -d fallbacks)")
        }
        return true
    }

    /// True when this vCPU is halted with interrupts disabled, or is an AP
    /// still waiting for INIT/SIPI: only another vCPU could wake it.
    private func canNeverWake() -> Bool {
        guard let mp = try? vcpu.mpState() else { return false }
        switch Int32(mp) {
        case KVM_MP_STATE_HALTED:
            guard let regs = try? vcpu.registers() else { return false }
            return regs.rflags & Self.interruptFlag == 0
        case KVM_MP_STATE_UNINITIALIZED, KVM_MP_STATE_INIT_RECEIVED:
            return true
        default:
            return false
        }
    }

    /// The boot vCPU restarts at the reset vector; the others wait for SIPI.
    func applyResetState() {
        do {
            if index == 0, let plan = machine.kernelPlan {
                try CPUState.applyKernelEntry(plan.entry, to: vcpu)
            } else if index == 0 {
                try CPUState.applyReset(ResetState(), to: vcpu)
            } else {
                try vcpu.setMPState(UInt32(KVM_MP_STATE_INIT_RECEIVED))
            }
        } catch {
            fail("cannot reset vCPU \(index): \(error)")
        }
    }

    private func fail(_ why: String) {
        let report = CrashReport.describe(vcpu: vcpu, index: index, memory: machine.memory, reason: why)
        machine.lifecycle.requestStop(.failure(report))
    }
}
