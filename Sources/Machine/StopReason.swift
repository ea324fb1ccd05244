/// Why the VM stopped, and so the VMM's exit status.
///
/// Exit statuses: 0 for a normal end (the guest halted for good, reset with
/// -no-reboot, or the user quit); (v << 1) | 1 when the guest wrote v to
/// isa-debug-exit, as QEMU; 2 when the VM failed (KVM could not run the
/// guest). Configuration errors exit 1 before the VM starts.
public enum StopReason: Sendable, Equatable {
    case debugExit(status: Int32)
    /// The guest powered off through ACPI (SLP_EN with S5).
    case guestPowerOff
    /// Every vCPU halted with interrupts disabled: nothing can wake them.
    case haltedForever
    /// A triple fault or reset request with -no-reboot.
    case resetWithNoReboot
    /// Ctrl-A x.
    case userQuit
    /// SIGINT, SIGTERM or SIGHUP.
    case signal(Int32)
    /// The monitor's `quit`.
    case hostQuit
    /// The guest or KVM failed; the report was already printed.
    case failure(String)

    public var exitStatus: Int32 {
        switch self {
        case .debugExit(let s): s
        case .guestPowerOff, .haltedForever, .resetWithNoReboot, .userQuit, .signal, .hostQuit: 0
        case .failure: 2
        }
    }

    /// The line printed to stderr when the VM stops, if any.
    public var message: String? {
        switch self {
        case .debugExit, .guestPowerOff: nil
        case .haltedForever: "guest halted with interrupts disabled and nothing can wake it; stopping"
        case .resetWithNoReboot: "guest reset with -no-reboot; stopping"
        case .userQuit: "terminated by the user"
        case .signal(let n): "terminating on signal \(n)"
        case .hostQuit: nil
        case .failure(let s): s
        }
    }
}

extension StopReason {
    /// The SHUTDOWN event's data (QEMU's ShutdownCause names), nil when the
    /// stop is not a shutdown (a failure).
    public var shutdownCause: (guest: Bool, reason: String)? {
        switch self {
        case .debugExit, .haltedForever, .guestPowerOff: (true, "guest-shutdown")
        case .resetWithNoReboot: (true, "guest-reset")
        case .userQuit: (false, "host-ui")
        case .signal: (false, "host-signal")
        case .hostQuit: (false, "host-qmp-quit")
        case .failure: nil
        }
    }
}

/// What a monitor hears about the VM (QMP events), delivered on the main
/// thread in the order they happen.
public enum MachineEvent: Sendable, Equatable {
    case stop
    case resume
    case reset(guest: Bool, reason: String)
    case shutdown(guest: Bool, reason: String)
    case powerdown
}
