import Glibc
import KVM

/// What this host's KVM cannot do, and how the VMM works around it so that
/// the user does not have to (docs/linux-guest.md, "Host quirks"). Today
/// one kind of host needs it: `kvm_pvm`, KVM without VT-x, whose guest ring
/// 0 is emulated (shared/HOST.md, measured there):
///
/// - `vmcall` livelocks: the KVM PV features whose guest code makes
///   hypercalls are hidden from CPUID (leaf 0x40000001).
/// - `cmpxchg16b` cannot be emulated: CX16 is hidden (honoured by KVM).
/// - `xsave`/`xrstor` and `popcnt` cannot be emulated, and hiding XSAVE or
///   POPCNT in KVM_SET_CPUID2 is not honoured here: a Linux guest is told
///   `noxsave clearcpuid=popcnt` on its command line instead, with a notice.
/// - `int3`, `clac`/`stac` and `fwait` are completed by EmulationFallback.
public struct HostQuirks: Sendable, Equatable {
    /// The host runs KVM as kvm_pvm.
    public var isPVM: Bool

    public init(isPVM: Bool) { self.isPVM = isPVM }

    /// The quirks of the host this process runs on.
    public static func detect() -> HostQuirks {
        HostQuirks(isPVM: access("/sys/module/kvm_pvm", F_OK) == 0)
    }

    // KVM_FEATURE_* bits of CPUID 0x40000001 EAX (Documentation/virt/kvm/x86/cpuid.rst)
    // whose guest side uses a hypercall.
    static let pvUnhalt: UInt32 = 1 << 7        // KVM_HC_KICK_CPU from pv spinlocks
    static let pvSendIPI: UInt32 = 1 << 11      // KVM_HC_SEND_IPI
    static let pvSchedYield: UInt32 = 1 << 13   // KVM_HC_SCHED_YIELD
    static let hypercallFeatures = pvUnhalt | pvSendIPI | pvSchedYield
    static let cx16: UInt32 = 1 << 13           // CPUID.1:ECX

    /// Masks what the host cannot honour in a vCPU's CPUID table.
    func apply(to table: CPUIDTable) {
        guard isPVM else { return }
        table.update(function: 0x4000_0001) { $0.eax &= ~HostQuirks.hypercallFeatures }
        table.update(function: 1) { $0.ecx &= ~HostQuirks.cx16 }
    }

    /// Kernel parameters a Linux guest needs here, for what CPUID masking
    /// cannot hide.
    /// The command line a Linux guest gets: the user's, plus what this host
    /// needs and the user did not already give. Returns the line and what
    /// was added (empty when nothing was).
    func linuxCommandLine(_ line: String) -> (line: String, added: [String]) {
        guard isPVM else { return (line, []) }
        var words = line.split(separator: " ").map(String.init)
        var added: [String] = []
        if !words.contains("noxsave") {
            words.append("noxsave")
            added.append("noxsave")
        }
        // One clearcpuid= (Linux reads the first): popcnt joins the user's list.
        if let i = words.firstIndex(where: { $0.hasPrefix("clearcpuid=") }) {
            let list = words[i].dropFirst("clearcpuid=".count).split(separator: ",")
            if !list.contains("popcnt") {
                words[i] += list.isEmpty ? "popcnt" : ",popcnt"
                added.append("clearcpuid+=popcnt")
            }
        } else {
            words.append("clearcpuid=popcnt")
            added.append("clearcpuid=popcnt")
        }
        return added.isEmpty ? (line, []) : (words.joined(separator: " "), added)
    }
}
