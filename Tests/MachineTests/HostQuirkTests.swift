import Glibc
import KVM
@testable import Machine
import Testing

/// The kvm_pvm quirk layer without a guest: the fallback decoder on bytes,
/// the counters across threads, the command-line parameters, the CPUID mask.
@Suite("Host quirks and emulation fallbacks")
struct HostQuirkTests {
    @Test("the decoder knows int3, clac, stac and fwait exactly, and their lengths")
    func decodesKnownInstructions() {
        #expect(EmulationFallback.decode([0xCC, 0xF4])! == (.int3, 1))
        #expect(EmulationFallback.decode([0x0F, 0x01, 0xCA, 0x90])! == (.clac, 3))
        #expect(EmulationFallback.decode([0x0F, 0x01, 0xCB])! == (.stac, 3))
        #expect(EmulationFallback.decode([0x9B, 0xDB, 0xE3])! == (.fwait, 1))
    }

    @Test("anything else is not decoded: prefixes, near misses, truncated bytes, nothing")
    func refusesWhatItDoesNotKnow() {
        for code: [UInt8] in [[], [0x0F], [0x0F, 0x01], [0x0F, 0x01, 0xC9], [0x66, 0xCC], [0xF3, 0x0F, 0xB8, 0xC0],
                              [0xCD, 0x03], [0x48, 0x0F, 0xAE, 0x2F], [0x0F, 0x01, 0xD1], [0xF0, 0x0F, 0xC7, 0x0E]] {
            #expect(EmulationFallback.decode(code) == nil, "\(code)")
        }
    }

    @Test("counters are shared by every vCPU thread; the first of each kind is flagged once")
    func countersAcrossThreads() async {
        let counters = EmulationFallbackCounters()
        let firsts = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var firsts = 0
                    for _ in 0..<1000 where counters.count(.int3) { firsts += 1 }
                    return firsts
                }
            }
            return await group.reduce(0, +)
        }
        #expect(firsts == 1)
        #expect(counters.value(.int3) == 8000)
        #expect(counters.value(.stac) == 0)
        #expect(counters.all.map(\.name) == ["int3", "clac", "stac", "fwait"])
    }

    @Test("on kvm_pvm a Linux command line gets noxsave and clearcpuid=popcnt, once")
    func linuxParameters() {
        let pvm = HostQuirks(isPVM: true)
        #expect(pvm.linuxCommandLine("console=ttyS0 root=/dev/vda rw").line
                == "console=ttyS0 root=/dev/vda rw noxsave clearcpuid=popcnt")
        #expect(pvm.linuxCommandLine("").line == "noxsave clearcpuid=popcnt")
        let given = pvm.linuxCommandLine("console=ttyS0 noxsave clearcpuid=popcnt")
        #expect(given.line == "console=ttyS0 noxsave clearcpuid=popcnt" && given.added.isEmpty)
        #expect(pvm.linuxCommandLine("clearcpuid=avx noxsave").line == "clearcpuid=avx,popcnt noxsave")
        #expect(HostQuirks(isPVM: false).linuxCommandLine("console=ttyS0") == ("console=ttyS0", []))
    }

    @Test("on kvm_pvm the hypercall PV features and CX16 leave CPUID; elsewhere nothing changes",
          .enabled(if: access("/dev/kvm", R_OK | W_OK) == 0, "skipped: no /dev/kvm"))
    func cpuidMask() throws {
        let system = try KVMSystem(path: "/dev/kvm")
        let supported = try system.supportedCPUID()
        let pvFeatures = try #require(supported.entry(function: 0x4000_0001)).eax
        let table = supported.copy()
        HostQuirks(isPVM: true).apply(to: table)
        let masked = try #require(table.entry(function: 0x4000_0001)).eax
        #expect(masked == pvFeatures & ~(1 << 7 | 1 << 11 | 1 << 13))
        #expect(try #require(table.entry(function: 1)).ecx & (1 << 13) == 0)
        let untouched = supported.copy()
        HostQuirks(isPVM: false).apply(to: untouched)
        #expect(try #require(untouched.entry(function: 0x4000_0001)).eax == pvFeatures)
    }
}
