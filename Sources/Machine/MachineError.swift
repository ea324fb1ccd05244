import Boot
import KVM
import Memory

/// Why a machine could not be built or run; one line for the user.
public enum MachineError: Error, CustomStringConvertible {
    case kvm(KVMError)
    case memory(MemoryError)
    case boot(BootError)
    case bus(BusError)
    case noFirmware
    case cannotOpen(path: String, errno: Int32)
    case host(String)

    public var description: String {
        switch self {
        case .kvm(let e): e.description
        case .memory(let e): e.description
        case .boot(let e): e.description
        case .bus(let e): e.description
        case .noFirmware: "nothing to boot: give -bios FILE"
        case let .cannotOpen(p, e): "cannot open '\(p)': \(errnoText(e))"
        case .host(let s): s
        }
    }
}
