import CKVM
import Glibc

/// /dev/kvm: the system-level KVM handle (KVM_GET_API_VERSION,
/// KVM_CHECK_EXTENSION, KVM_CREATE_VM, KVM_GET_SUPPORTED_CPUID).
public final class KVMSystem: Sendable {
    /// The only stable KVM API version (api.rst §4.1).
    public static let expectedAPIVersion: Int32 = 12

    public let fd: OwnedFileDescriptor

    /// Opens the KVM device. A missing device or a permission problem is
    /// reported with the path so the user knows what to fix.
    public init(path: String = "/dev/kvm") throws(KVMError) {
        let raw = open(path, O_RDWR | O_CLOEXEC)
        if raw < 0 {
            let e = errno
            let hint: String
            switch e {
            case ENOENT: hint = "\(path) does not exist: KVM is not available on this host"
            case EACCES, EPERM: hint = "no permission to open \(path): run as root or join the 'kvm' group"
            default: hint = "cannot open \(path)"
            }
            throw KVMError("open \(path)", errno: e, detail: hint)
        }
        fd = OwnedFileDescriptor(raw)
        let version = ckvm_ioctl_int(raw, CKVM_GET_API_VERSION, 0)
        if version < 0 { throw KVMError("KVM_GET_API_VERSION", errno: -version) }
        if version != KVMSystem.expectedAPIVersion {
            throw KVMError("KVM_GET_API_VERSION", errno: EINVAL,
                           detail: "the kernel reports KVM API \(version), SwiftVMM needs \(KVMSystem.expectedAPIVersion)")
        }
    }

    /// KVM_CHECK_EXTENSION: 0 when the capability is missing, else a
    /// capability-specific positive value.
    public func checkExtension(_ capability: Int32) -> Int32 {
        max(0, ckvm_ioctl_int(fd.rawValue, CKVM_CHECK_EXTENSION, UInt(capability)))
    }

    /// KVM_GET_VCPU_MMAP_SIZE: the size of the shared kvm_run area.
    public func vcpuMmapSize() throws(KVMError) -> Int {
        Int(try check(ckvm_ioctl_int(fd.rawValue, CKVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE"))
    }

    /// KVM_GET_SUPPORTED_CPUID: every leaf KVM can present to a guest.
    public func supportedCPUID() throws(KVMError) -> CPUIDTable {
        var capacity = 128
        while capacity <= 4096 {
            let table = CPUIDTable(capacity: capacity)
            let r = table.withRawPointer { ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_SUPPORTED_CPUID, $0) }
            if r == -E2BIG { capacity *= 2; continue }
            _ = try check(r, "KVM_GET_SUPPORTED_CPUID")
            return table
        }
        throw KVMError("KVM_GET_SUPPORTED_CPUID", errno: E2BIG)
    }

    /// KVM_CREATE_VM with the default machine type.
    public func createVM() throws(KVMError) -> VirtualMachine {
        let raw = try check(ckvm_ioctl_int(fd.rawValue, CKVM_CREATE_VM, 0), "KVM_CREATE_VM")
        return VirtualMachine(fd: OwnedFileDescriptor(raw), system: self)
    }
}
