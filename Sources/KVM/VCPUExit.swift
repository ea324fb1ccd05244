import CKVM

/// Why KVM_RUN returned: one case per KVM_EXIT_* the VMM handles, plus
/// `unknown` instead of a crash (api.rst 5, "The kvm_run structure").
public enum VCPUExit {
    /// KVM_EXIT_IO: a port I/O instruction.
    case io(PortIOExit)
    /// KVM_EXIT_MMIO: an access to guest-physical memory that no slot backs.
    case mmio(MMIOExit)
    /// KVM_EXIT_HLT (only without an in-kernel LAPIC).
    case hlt
    /// KVM_EXIT_SHUTDOWN: a triple fault.
    case shutdown
    /// KVM_EXIT_SYSTEM_EVENT: shutdown/reset/crash requested by the guest.
    case systemEvent(type: UInt32)
    /// KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest.
    case failEntry(reason: UInt64, cpu: UInt32)
    /// KVM_EXIT_INTERNAL_ERROR: e.g. suberror 1, emulation failure.
    case internalError(InternalErrorInfo)
    /// KVM_EXIT_IRQ_WINDOW_OPEN.
    case irqWindowOpen
    /// KVM_EXIT_INTR, or KVM_RUN ending with EINTR (a kick from another thread).
    case interrupted
    /// Any other exit reason.
    case unknown(UInt32)
}

/// KVM_EXIT_INTERNAL_ERROR payload.
public struct InternalErrorInfo: Sendable, Equatable {
    public var suberror: UInt32
    /// Up to four of the `data` words KVM reported.
    public var data: [UInt64]

    public init(suberror: UInt32, data: [UInt64]) {
        self.suberror = suberror
        self.data = data
    }

    /// KVM_INTERNAL_ERROR_EMULATION: KVM's instruction emulator gave up.
    public var isEmulationFailure: Bool { suberror == UInt32(KVM_INTERNAL_ERROR_EMULATION) }

    public var suberrorName: String {
        switch suberror {
        case UInt32(KVM_INTERNAL_ERROR_EMULATION): "emulation failure"
        case UInt32(KVM_INTERNAL_ERROR_SIMUL_EX): "exception while delivering an exception"
        case UInt32(KVM_INTERNAL_ERROR_DELIVERY_EV): "event delivery failed"
        default: "suberror \(suberror)"
        }
    }
}

/// A borrowed view of a KVM_EXIT_IO exit. `data` points into the vCPU's
/// kvm_run page; it is valid until the next KVM_RUN on that vCPU.
public struct PortIOExit {
    public enum Direction: Sendable { case read, write }
    public let direction: Direction
    public let port: UInt16
    /// Bytes per access: 1, 2 or 4.
    public let size: Int
    /// Number of accesses (rep ins/outs); data holds size*count bytes.
    public let count: Int
    public let data: UnsafeMutableRawPointer

    public init(direction: Direction, port: UInt16, size: Int, count: Int, data: UnsafeMutableRawPointer) {
        self.direction = direction
        self.port = port
        self.size = size
        self.count = count
        self.data = data
    }
}

/// A borrowed view of a KVM_EXIT_MMIO exit (valid until the next KVM_RUN).
public struct MMIOExit {
    public let address: UInt64
    public let isWrite: Bool
    /// 1...8 bytes.
    public let length: Int
    public let data: UnsafeMutableRawPointer

    public init(address: UInt64, isWrite: Bool, length: Int, data: UnsafeMutableRawPointer) {
        self.address = address
        self.isWrite = isWrite
        self.length = length
        self.data = data
    }
}

extension VCPUExit {
    /// Decodes the exit KVM left in `run`.
    /// Safety: `run` must be a vCPU's mapped kvm_run area after KVM_RUN
    /// returned 0; the views keep pointing into it.
    static func decode(_ run: UnsafeMutablePointer<kvm_run>) -> VCPUExit {
        let reason = run.pointee.exit_reason
        switch Int32(reason) {
        case KVM_EXIT_IO:
            let io = run.pointee.io
            // Clamp what KVM reports to the run page: sizes are 1/2/4 and the
            // data lies inside the mapping by construction.
            return .io(PortIOExit(
                direction: io.direction == UInt8(KVM_EXIT_IO_OUT) ? .write : .read,
                port: io.port, size: Int(io.size), count: Int(io.count),
                data: UnsafeMutableRawPointer(ckvm_io_data(run))))
        case KVM_EXIT_MMIO:
            let len = Int(min(run.pointee.mmio.len, 8))
            let data = UnsafeMutableRawPointer(ckvm_mmio_data(run))
            return .mmio(MMIOExit(address: run.pointee.mmio.phys_addr, isWrite: run.pointee.mmio.is_write != 0,
                                  length: len, data: data))
        case KVM_EXIT_HLT: return .hlt
        case KVM_EXIT_SHUTDOWN: return .shutdown
        case KVM_EXIT_SYSTEM_EVENT: return .systemEvent(type: run.pointee.system_event.type)
        case KVM_EXIT_FAIL_ENTRY:
            return .failEntry(reason: run.pointee.fail_entry.hardware_entry_failure_reason,
                              cpu: run.pointee.fail_entry.cpu)
        case KVM_EXIT_INTERNAL_ERROR:
            let ie = run.pointee.internal
            let n = Int(min(ie.ndata, 4))
            let words = withUnsafeBytes(of: ie.data) { raw in (0..<n).map { raw.load(fromByteOffset: $0 * 8, as: UInt64.self) } }
            return .internalError(InternalErrorInfo(suberror: ie.suberror, data: words))
        case KVM_EXIT_IRQ_WINDOW_OPEN: return .irqWindowOpen
        case KVM_EXIT_INTR: return .interrupted
        default: return .unknown(reason)
        }
    }
}
