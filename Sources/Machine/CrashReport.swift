import KVM
import Memory

/// The report printed when a vCPU stops on an error: the reason, where the
/// guest was (RIP, CS, CPL, mode), the instruction bytes there (through
/// KVM_TRANSLATE and guest memory) and the registers.
enum CrashReport {
    static func describe(vcpu: VCPU, index: Int, memory: GuestMemory, reason: String) -> String {
        "vCPU \(index) stopped: \(reason)\n" + registers(vcpu: vcpu, index: index, memory: memory)
    }

    /// The register block of the report (also HMP's "info registers").
    static func registers(vcpu: VCPU, index: Int, memory: GuestMemory) -> String {
        var lines: [String] = []
        guard let regs = try? vcpu.registers(), let sregs = try? vcpu.specialRegisters() else {
            return "  vCPU \(index): registers unavailable"
        }
        let cpl = sregs.cs.selector & 3
        let mode: String
        if sregs.cr0 & 1 == 0 { mode = "real mode" }
        else if sregs.efer & (1 << 10) != 0 { mode = sregs.cs.l != 0 ? "64-bit long mode" : "compatibility mode" }
        else { mode = sregs.cs.db != 0 ? "32-bit protected mode" : "16-bit protected mode" }
        let linear = mode == "64-bit long mode" ? regs.rip : sregs.cs.base &+ regs.rip
        lines.append("  RIP=\(h(regs.rip)) CS=\(h(UInt64(sregs.cs.selector), 4)) base=\(h(sregs.cs.base)) CPL=\(cpl) (\(mode)) RFLAGS=\(h(regs.rflags))")
        lines.append("  code at RIP: " + instructionBytes(vcpu: vcpu, memory: memory, linear: linear))
        lines.append("  RAX=\(h(regs.rax)) RBX=\(h(regs.rbx)) RCX=\(h(regs.rcx)) RDX=\(h(regs.rdx))")
        lines.append("  RSI=\(h(regs.rsi)) RDI=\(h(regs.rdi)) RBP=\(h(regs.rbp)) RSP=\(h(regs.rsp))")
        lines.append("  R8=\(h(regs.r8)) R9=\(h(regs.r9)) R10=\(h(regs.r10)) R11=\(h(regs.r11))")
        lines.append("  R12=\(h(regs.r12)) R13=\(h(regs.r13)) R14=\(h(regs.r14)) R15=\(h(regs.r15))")
        lines.append("  CR0=\(h(sregs.cr0)) CR2=\(h(sregs.cr2)) CR3=\(h(sregs.cr3)) CR4=\(h(sregs.cr4)) EFER=\(h(sregs.efer))")
        return lines.joined(separator: "\n")
    }

    /// Up to 16 bytes at the guest-linear address, stopping at a page end.
    static func instructionBytes(vcpu: VCPU, memory: GuestMemory, linear: UInt64) -> String {
        guard let physical = try? vcpu.translate(linear) else { return "(address not mapped)" }
        let untilPageEnd = 0x1000 - (physical & 0xFFF)
        let count = Int(min(16, untilPageEnd))
        guard let bytes = try? memory.read(count: count, at: GuestAddress(physical)) else {
            return "(\(h(physical)) is not guest memory)"
        }
        return bytes.map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined(separator: " ")
    }

    static func h(_ v: UInt64, _ width: Int = 16) -> String {
        let s = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, width - s.count)) + s
    }
}
