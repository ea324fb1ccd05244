/// Why the VM stopped, and so the VMM's exit status.
///
/// Exit statuses: 0 for a normal end (the guest halted for good, reset with
/// -no-reboot, or the user quit); (v << 1) | 1 when the guest wrote v to
/// isa-debug-exit, as QEMU; 2 when the VM failed (KVM could not run the
/// guest). Configuration errors exit 1 before the VM starts.
public enum StopReason: Sendable, Equatable {
    case debugExit(status: Int32)
    /// Every vCPU halted with interrupts disabled: nothing can wake them.
    case haltedForever
    /// A triple fault or reset request with -no-reboot.
    case resetWithNoReboot
    /// Ctrl-A x (or a signal).
    case userQuit
    /// The guest or KVM failed; the report was already printed.
    case failure(String)

    public var exitStatus: Int32 {
        switch self {
        case .debugExit(let s): s
        case .haltedForever, .resetWithNoReboot, .userQuit: 0
        case .failure: 2
        }
    }

    /// The line printed to stderr when the VM stops, if any.
    public var message: String? {
        switch self {
        case .debugExit: nil
        case .haltedForever: "guest halted with interrupts disabled and nothing can wake it; stopping"
        case .resetWithNoReboot: "guest reset (triple fault) with -no-reboot; stopping"
        case .userQuit: "terminated by the user"
        case .failure(let s): s
        }
    }
}
