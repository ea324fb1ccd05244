import KVM

/// The CPUID each vCPU sees (Intel SDM Vol. 2A, CPUID): what KVM supports
/// (KVM_GET_SUPPORTED_CPUID, which includes KVM's hypervisor leaves
/// 0x40000000+), with the topology set per vCPU and the `-cpu host,+f,-f`
/// feature changes applied.
public enum CPUIDPolicy {
    public enum Register: Sendable { case eax, ebx, ecx, edx }

    /// A named feature bit, spelled as QEMU spells it.
    public struct Feature: Sendable {
        public let name: String
        public let leaf: UInt32
        public let subleaf: UInt32
        public let register: Register
        public let bit: UInt32
    }

    static func f(_ name: String, _ leaf: UInt32, _ register: Register, _ bit: UInt32, subleaf: UInt32 = 0) -> Feature {
        Feature(name: name, leaf: leaf, subleaf: subleaf, register: register, bit: bit)
    }

    public static let features: [Feature] = [
        // Leaf 1 ECX
        f("pni", 1, .ecx, 0), f("sse3", 1, .ecx, 0), f("pclmulqdq", 1, .ecx, 1), f("monitor", 1, .ecx, 3),
        f("vmx", 1, .ecx, 5), f("ssse3", 1, .ecx, 9), f("fma", 1, .ecx, 12), f("cx16", 1, .ecx, 13),
        f("pcid", 1, .ecx, 17), f("sse4.1", 1, .ecx, 19), f("sse4_1", 1, .ecx, 19), f("sse4.2", 1, .ecx, 20),
        f("sse4_2", 1, .ecx, 20), f("x2apic", 1, .ecx, 21), f("movbe", 1, .ecx, 22), f("popcnt", 1, .ecx, 23),
        f("tsc-deadline", 1, .ecx, 24), f("aes", 1, .ecx, 25), f("xsave", 1, .ecx, 26), f("avx", 1, .ecx, 28),
        f("f16c", 1, .ecx, 29), f("rdrand", 1, .ecx, 30), f("hypervisor", 1, .ecx, 31),
        // Leaf 1 EDX
        f("fpu", 1, .edx, 0), f("vme", 1, .edx, 1), f("de", 1, .edx, 2), f("pse", 1, .edx, 3), f("tsc", 1, .edx, 4),
        f("msr", 1, .edx, 5), f("pae", 1, .edx, 6), f("mce", 1, .edx, 7), f("cx8", 1, .edx, 8), f("apic", 1, .edx, 9),
        f("sep", 1, .edx, 11), f("mtrr", 1, .edx, 12), f("pge", 1, .edx, 13), f("mca", 1, .edx, 14),
        f("cmov", 1, .edx, 15), f("pat", 1, .edx, 16), f("pse36", 1, .edx, 17), f("clflush", 1, .edx, 19),
        f("mmx", 1, .edx, 23), f("fxsr", 1, .edx, 24), f("sse", 1, .edx, 25), f("sse2", 1, .edx, 26),
        f("ht", 1, .edx, 28),
        // Leaf 7.0
        f("fsgsbase", 7, .ebx, 0), f("bmi1", 7, .ebx, 3), f("hle", 7, .ebx, 4), f("avx2", 7, .ebx, 5),
        f("smep", 7, .ebx, 7), f("bmi2", 7, .ebx, 8), f("erms", 7, .ebx, 9), f("invpcid", 7, .ebx, 10),
        f("rtm", 7, .ebx, 11), f("avx512f", 7, .ebx, 16), f("rdseed", 7, .ebx, 18), f("adx", 7, .ebx, 19),
        f("smap", 7, .ebx, 20), f("clflushopt", 7, .ebx, 23), f("sha-ni", 7, .ebx, 29),
        f("umip", 7, .ecx, 2), f("pku", 7, .ecx, 3), f("la57", 7, .ecx, 16), f("rdpid", 7, .ecx, 22),
        // Leaf 0xD.1
        f("xsaveopt", 0xD, .eax, 0, subleaf: 1), f("xsavec", 0xD, .eax, 1, subleaf: 1), f("xsaves", 0xD, .eax, 3, subleaf: 1),
        // Leaf 0x80000001
        f("lahf-lm", 0x8000_0001, .ecx, 0), f("lahf_lm", 0x8000_0001, .ecx, 0), f("abm", 0x8000_0001, .ecx, 5),
        f("sse4a", 0x8000_0001, .ecx, 6), f("3dnowprefetch", 0x8000_0001, .ecx, 8),
        f("syscall", 0x8000_0001, .edx, 11), f("nx", 0x8000_0001, .edx, 20), f("pdpe1gb", 0x8000_0001, .edx, 26),
        f("rdtscp", 0x8000_0001, .edx, 27), f("lm", 0x8000_0001, .edx, 29),
    ]

    public static func feature(named name: String) -> Feature? { features.first { $0.name == name } }

    static func table(for index: Int, count: Int, supported: CPUIDTable,
                      changes: [(name: String, enabled: Bool)] = []) -> CPUIDTable {
        let table = supported.copy()
        let apicID = UInt32(index & 0xFF)
        // Leaf 1 EBX[31:24]: initial APIC id; [23:16]: logical processors.
        table.update(function: 1) { e in
            e.ebx = (e.ebx & 0x0000_FFFF) | apicID << 24 | UInt32(min(count, 255)) << 16
            if count > 1 { e.edx |= 1 << 28 }  // HTT: the count field is valid
        }
        // Leaves 0xB and 0x1F: EDX is the x2APIC id on every subleaf.
        for leaf: UInt32 in [0xB, 0x1F] {
            for sub: UInt32 in 0..<4 { table.update(function: leaf, index: sub) { $0.edx = apicID } }
        }
        for change in changes {
            guard let f = feature(named: change.name) else { continue }  // validated by the CLI
            table.update(function: f.leaf, index: f.subleaf) { e in
                let mask: UInt32 = 1 << f.bit
                func apply(_ r: inout UInt32) { r = change.enabled ? r | mask : r & ~mask }
                switch f.register {
                case .eax: apply(&e.eax)
                case .ebx: apply(&e.ebx)
                case .ecx: apply(&e.ecx)
                case .edx: apply(&e.edx)
                }
            }
        }
        return table
    }

    /// MSRs every vCPU starts with (as Firecracker's boot MSRs): fast
    /// strings on, MTRRs enabled with write-back as the default type, the
    /// syscall MSRs and the TSC at zero.
    static let initialMSRs: [(index: UInt32, value: UInt64)] = [
        (0x1A0, 1),                 // IA32_MISC_ENABLE: fast strings
        (0x2FF, 1 << 11 | 6),       // IA32_MTRR_DEF_TYPE: enabled, WB
        (0x174, 0), (0x175, 0), (0x176, 0),  // SYSENTER_CS/ESP/EIP
        (0xC000_0081, 0), (0xC000_0082, 0), (0xC000_0083, 0), (0xC000_0084, 0), (0xC000_0102, 0),  // STAR..KERNEL_GS_BASE
        (0x10, 0),                  // IA32_TSC
    ]
}
