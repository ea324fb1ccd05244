import Boot
import KVM

/// Applies plain-value CPU states from Boot to a KVM vCPU.
enum CPUState {
    static func applyReset(_ state: ResetState, to vcpu: VCPU) throws(KVMError) {
        var sregs = try vcpu.specialRegisters()
        sregs.cs = segment(state.cs)
        sregs.ds = segment(state.data)
        sregs.es = segment(state.data)
        sregs.fs = segment(state.data)
        sregs.gs = segment(state.data)
        sregs.ss = segment(state.data)
        sregs.cr0 = state.cr0
        sregs.cr2 = 0
        sregs.cr3 = 0
        sregs.cr4 = 0
        sregs.efer = 0
        sregs.gdt.base = 0
        sregs.gdt.limit = 0xFFFF
        sregs.idt.base = 0
        sregs.idt.limit = 0xFFFF
        try vcpu.setSpecialRegisters(sregs)
        var regs = Registers()
        regs.rip = state.rip
        regs.rflags = state.rflags
        regs.rdx = state.rdx
        try vcpu.setRegisters(regs)
    }

    private static func segment(_ s: ResetState.SegmentState) -> Segment {
        var seg = Segment()
        seg.selector = s.selector
        seg.base = s.base
        seg.limit = s.limit
        seg.type = s.type
        seg.present = 1
        seg.s = 1  // code/data, not system
        seg.dpl = 0
        seg.db = 0
        seg.l = 0
        seg.g = 0
        return seg
    }
}
