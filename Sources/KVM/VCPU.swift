import CKVM
import Glibc

/// Register state types, as KVM defines them (struct kvm_regs etc.).
public typealias Registers = kvm_regs
public typealias SpecialRegisters = kvm_sregs
public typealias Segment = kvm_segment
public typealias FPUState = kvm_fpu

/// One virtual CPU: its fd and its mapped kvm_run area. Every ioctl except
/// `kick` must come from the thread that runs the vCPU.
public final class VCPU: @unchecked Sendable {
    // `run` is owned here and unmapped in deinit. It is written by KVM and
    // by the vCPU thread; other threads only set `immediate_exit` (a byte KVM
    // reads at KVM_RUN entry, api.rst 5), which is what `kick` does.
    public let id: UInt32
    public let fd: OwnedFileDescriptor
    private let run: UnsafeMutablePointer<kvm_run>
    private let runSize: Int

    init(id: UInt32, fd: OwnedFileDescriptor, run: UnsafeMutableRawPointer, runSize: Int) {
        self.id = id
        self.fd = fd
        self.run = run.assumingMemoryBound(to: kvm_run.self)
        self.runSize = runSize
    }

    deinit { munmap(run, runSize) }

    /// KVM_RUN: enters the guest until the next exit.
    @inline(__always)
    public func runOnce() throws(KVMError) -> VCPUExit {
        let r = ckvm_ioctl_int(fd.rawValue, CKVM_RUN, 0)
        if r < 0 {
            if r == -EINTR || r == -EAGAIN {
                run.pointee.immediate_exit = 0
                return .interrupted
            }
            throw KVMError("KVM_RUN", errno: -r, detail: "vCPU \(id)")
        }
        return VCPUExit.decode(run)
    }

    /// Asks KVM_RUN to return at its next entry (kvm_run.immediate_exit);
    /// pair with a signal to the vCPU thread to end a run in progress.
    public func requestImmediateExit() {
        // A volatile-style store: KVM reads this byte on entry.
        withUnsafeMutablePointer(to: &run.pointee.immediate_exit) { p in
            UnsafeMutableRawPointer(p).storeBytes(of: 1, as: UInt8.self)
        }
    }

    public func registers() throws(KVMError) -> Registers {
        var regs = Registers()
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_REGS, &regs), "KVM_GET_REGS")
        return regs
    }

    public func setRegisters(_ regs: Registers) throws(KVMError) {
        var r = regs
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_REGS, &r), "KVM_SET_REGS")
    }

    public func specialRegisters() throws(KVMError) -> SpecialRegisters {
        var sregs = SpecialRegisters()
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_SREGS, &sregs), "KVM_GET_SREGS")
        return sregs
    }

    public func setSpecialRegisters(_ sregs: SpecialRegisters) throws(KVMError) {
        var s = sregs
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_SREGS, &s), "KVM_SET_SREGS")
    }

    public func fpu() throws(KVMError) -> FPUState {
        var f = FPUState()
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_FPU, &f), "KVM_GET_FPU")
        return f
    }

    public func setFPU(_ state: FPUState) throws(KVMError) {
        var f = state
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_FPU, &f), "KVM_SET_FPU")
    }

    /// KVM_SET_CPUID2: what the guest's CPUID instruction returns.
    public func setCPUID(_ table: CPUIDTable) throws(KVMError) {
        _ = try check(table.withRawPointer { ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_CPUID2, $0) }, "KVM_SET_CPUID2")
    }

    /// KVM_GET_MSRS for the given indices; returns (index, value) pairs for
    /// the MSRs KVM could read.
    public func msrs(_ indices: [UInt32]) throws(KVMError) -> [(index: UInt32, value: UInt64)] {
        try withMSRBuffer(indices.map { ($0, 0) }) { (p, n) throws(KVMError) in
            let r = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_MSRS, p), "KVM_GET_MSRS")
            let entries = (p + MemoryLayout<kvm_msrs>.size).assumingMemoryBound(to: kvm_msr_entry.self)
            return (0..<min(Int(r), n)).map { (entries[$0].index, entries[$0].data) }
        }
    }

    /// KVM_SET_MSRS; every MSR must be accepted.
    public func setMSRs(_ values: [(index: UInt32, value: UInt64)]) throws(KVMError) {
        try withMSRBuffer(values) { (p, n) throws(KVMError) in
            let r = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_MSRS, p), "KVM_SET_MSRS")
            if Int(r) != n {
                let entries = (p + MemoryLayout<kvm_msrs>.size).assumingMemoryBound(to: kvm_msr_entry.self)
                throw KVMError("KVM_SET_MSRS", errno: EINVAL,
                               detail: "MSR 0x\(String(entries[Int(r)].index, radix: 16)) was refused")
            }
        }
    }

    private func withMSRBuffer<R>(_ values: [(UInt32, UInt64)],
                                  _ body: (UnsafeMutableRawPointer, Int) throws(KVMError) -> R) throws(KVMError) -> R {
        let bytes = MemoryLayout<kvm_msrs>.size + values.count * MemoryLayout<kvm_msr_entry>.stride
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        defer { p.deallocate() }
        p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        p.assumingMemoryBound(to: kvm_msrs.self).pointee.nmsrs = UInt32(values.count)
        let entries = (p + MemoryLayout<kvm_msrs>.size).assumingMemoryBound(to: kvm_msr_entry.self)
        for (i, v) in values.enumerated() {
            entries[i].index = v.0
            entries[i].data = v.1
        }
        return try body(p, values.count)
    }

    /// KVM_TRANSLATE: guest-virtual to guest-physical with the vCPU's
    /// current page tables; nil when the address is not mapped.
    public func translate(_ virtualAddress: UInt64) throws(KVMError) -> UInt64? {
        var t = kvm_translation()
        t.linear_address = virtualAddress
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_TRANSLATE, &t), "KVM_TRANSLATE")
        return t.valid != 0 ? t.physical_address : nil
    }

    /// KVM_GET_MP_STATE (KVM_MP_STATE_RUNNABLE, _HALTED, _UNINITIALIZED ...).
    public func mpState() throws(KVMError) -> UInt32 {
        var s = kvm_mp_state()
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_MP_STATE, &s), "KVM_GET_MP_STATE")
        return s.mp_state
    }

    public func setMPState(_ state: UInt32) throws(KVMError) {
        var s = kvm_mp_state(mp_state: state)
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_MP_STATE, &s), "KVM_SET_MP_STATE")
    }

    /// Queues a hardware exception for the next entry (KVM_GET_VCPU_EVENTS,
    /// then KVM_SET_VCPU_EVENTS with `exception.injected`; api.rst 4.31/4.32):
    /// the guest takes `vector` at the current RIP as if the CPU had raised it.
    public func injectException(vector: UInt8, errorCode: UInt32? = nil) throws(KVMError) {
        var events = kvm_vcpu_events()
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_GET_VCPU_EVENTS, &events), "KVM_GET_VCPU_EVENTS")
        events.exception.injected = 1
        events.exception.pending = 0
        events.exception.nr = vector
        events.exception.has_error_code = errorCode == nil ? 0 : 1
        events.exception.error_code = errorCode ?? 0
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_VCPU_EVENTS, &events), "KVM_SET_VCPU_EVENTS")
    }
}
