import KVM

/// The CPUID each vCPU sees: what KVM supports, with the APIC id and the
/// logical processor count set per vCPU (Intel SDM Vol. 2A, CPUID leaf 01H:
/// EBX[31:24] initial APIC id, EBX[23:16] max logical processors).
enum CPUIDPolicy {
    static func table(for index: Int, count: Int, supported: CPUIDTable) -> CPUIDTable {
        let table = supported.copy()
        table.update(function: 1) { e in
            e.ebx = (e.ebx & 0x0000_FFFF) | (UInt32(index & 0xFF) << 24) | (UInt32(min(count, 255)) << 16)
            if count > 1 { e.edx |= 1 << 28 }  // HTT: the count field is valid
        }
        return table
    }
}
