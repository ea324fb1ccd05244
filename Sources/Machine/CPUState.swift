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

    /// A kernel's entry state (Boot's KernelEntryState) on the boot vCPU.
    static func applyKernelEntry(_ entry: KernelEntryState, to vcpu: VCPU) throws(KVMError) {
        var sregs = try vcpu.specialRegisters()
        var regs = Registers()
        regs.rflags = 0x2
        regs.rsp = 0x8000
        func flat(_ selector: UInt16, code: Bool, long: Bool) -> Segment {
            var seg = Segment()
            seg.selector = selector
            seg.base = 0
            seg.limit = 0xFFFF_FFFF
            seg.type = code ? 0xB : 0x3
            seg.present = 1
            seg.s = 1
            seg.dpl = 0
            seg.db = long ? 0 : 1
            seg.l = long ? 1 : 0
            seg.g = 1
            return seg
        }
        let data = flat(0x18, code: false, long: false)
        sregs.ds = data
        sregs.es = data
        sregs.fs = data
        sregs.gs = data
        sregs.ss = data
        sregs.idt.base = 0
        sregs.idt.limit = 0
        switch entry {
        case let .longMode(rip, rsi, cr3, gdtBase, gdtLimit):
            sregs.cs = flat(0x10, code: true, long: true)
            sregs.gdt.base = gdtBase
            sregs.gdt.limit = gdtLimit
            sregs.cr3 = cr3
            sregs.cr4 = 0x20                     // PAE
            sregs.cr0 = 0x8000_0011              // PG | ET | PE
            sregs.efer = 0x500                   // LMA | LME
            regs.rip = rip
            regs.rsi = rsi
        case let .pvh(eip, ebx, gdtBase, gdtLimit):
            sregs.cs = flat(0x08, code: true, long: false)
            sregs.gdt.base = gdtBase
            sregs.gdt.limit = gdtLimit
            sregs.cr3 = 0
            sregs.cr4 = 0
            sregs.cr0 = 0x11                     // ET | PE, paging off
            sregs.efer = 0
            regs.rip = UInt64(eip)
            regs.rbx = UInt64(ebx)
        }
        try vcpu.setSpecialRegisters(sregs)
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
