import CKVM
import Glibc

/// A KVM virtual machine (the fd from KVM_CREATE_VM).
public final class VirtualMachine: Sendable {
    public let fd: OwnedFileDescriptor
    public let system: KVMSystem

    init(fd: OwnedFileDescriptor, system: KVMSystem) {
        self.fd = fd
        self.system = system
    }

    /// KVM_SET_USER_MEMORY_REGION: maps `size` bytes of host memory at
    /// `hostAddress` to guest-physical `guestAddress` in memory slot `slot`.
    /// The host memory must stay mapped for the life of the VM.
    public func setUserMemoryRegion(slot: UInt32, guestAddress: UInt64, size: UInt64,
                                    hostAddress: UnsafeMutableRawPointer, readOnly: Bool = false) throws(KVMError) {
        var region = kvm_userspace_memory_region(
            slot: slot, flags: readOnly ? UInt32(KVM_MEM_READONLY) : 0,
            guest_phys_addr: guestAddress, memory_size: size,
            userspace_addr: UInt64(UInt(bitPattern: hostAddress)))
        let r = ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_USER_MEMORY_REGION, &region)
        if r < 0 {
            throw KVMError("KVM_SET_USER_MEMORY_REGION", errno: -r,
                           detail: "slot \(slot) at guest 0x\(String(guestAddress, radix: 16)), \(size) bytes")
        }
    }

    /// KVM_SET_TSS_ADDR: three pages of guest-physical space KVM may use
    /// for real-mode emulation on Intel hosts (api.rst 4.44). Must not
    /// overlap RAM or MMIO.
    public func setTSSAddress(_ address: UInt64) throws(KVMError) {
        _ = try check(ckvm_ioctl_int(fd.rawValue, CKVM_SET_TSS_ADDR, UInt(address)), "KVM_SET_TSS_ADDR")
    }

    /// KVM_SET_IDENTITY_MAP_ADDR: one page for the EPT identity map.
    public func setIdentityMapAddress(_ address: UInt64) throws(KVMError) {
        var a = address
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_IDENTITY_MAP_ADDR, &a), "KVM_SET_IDENTITY_MAP_ADDR")
    }

    /// KVM_CREATE_IRQCHIP: in-kernel PIC pair, IOAPIC and per-vCPU LAPIC.
    public func createIRQChip() throws(KVMError) {
        _ = try check(ckvm_ioctl_int(fd.rawValue, CKVM_CREATE_IRQCHIP, 0), "KVM_CREATE_IRQCHIP")
    }

    /// KVM_IRQ_LINE: sets the level of a GSI on the in-kernel irqchip.
    /// Safe to call from any thread.
    public func setIRQLine(_ gsi: UInt32, level: Bool) throws(KVMError) {
        var irq = kvm_irq_level()
        irq.irq = gsi
        irq.level = level ? 1 : 0
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_IRQ_LINE, &irq), "KVM_IRQ_LINE")
    }

    /// KVM_SIGNAL_MSI: delivers one message-signalled interrupt (address and
    /// data as a PCI device's MSI/MSI-X entry holds them). Returns false when
    /// the guest blocked it (masked / no destination). Any thread.
    @discardableResult
    public func signalMSI(address: UInt64, data: UInt32) throws(KVMError) -> Bool {
        var msi = kvm_msi()
        msi.address_lo = UInt32(truncatingIfNeeded: address)
        msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
        msi.data = data
        return try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SIGNAL_MSI, &msi), "KVM_SIGNAL_MSI") > 0
    }

    /// KVM_IRQFD: a write to `eventFD` raises GSI `gsi` inside the kernel,
    /// with no exit to userspace; `deassign` removes it.
    public func irqfd(_ eventFD: Int32, gsi: UInt32, deassign: Bool = false) throws(KVMError) {
        var r = kvm_irqfd()
        r.fd = UInt32(bitPattern: eventFD)
        r.gsi = gsi
        r.flags = deassign ? UInt32(KVM_IRQFD_FLAG_DEASSIGN) : 0
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_IRQFD, &r), "KVM_IRQFD")
    }

    /// KVM_IOEVENTFD: a guest write of `length` bytes to `address` (MMIO, or
    /// port I/O when `pio`) signals `eventFD` instead of exiting to userspace.
    public func ioeventfd(_ eventFD: Int32, address: UInt64, length: UInt32, pio: Bool = false,
                          deassign: Bool = false) throws(KVMError) {
        var r = kvm_ioeventfd()
        r.addr = address
        r.len = length
        r.fd = eventFD
        r.flags = (pio ? UInt32(1 << kvm_ioeventfd_flag_nr_pio) : 0)
            | (deassign ? UInt32(1 << kvm_ioeventfd_flag_nr_deassign) : 0)
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_IOEVENTFD, &r), "KVM_IOEVENTFD")
    }

    /// KVM_CREATE_VCPU and the mmap of its kvm_run area.
    public func createVCPU(id: UInt32) throws(KVMError) -> VCPU {
        let raw = try check(ckvm_ioctl_int(fd.rawValue, CKVM_CREATE_VCPU, UInt(id)), "KVM_CREATE_VCPU")
        let owned = OwnedFileDescriptor(raw)
        let size = try system.vcpuMmapSize()
        guard let map = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, raw, 0), map != MAP_FAILED else {
            throw KVMError("mmap kvm_run", errno: errno, detail: "vCPU \(id)")
        }
        return VCPU(id: id, fd: owned, run: map, runSize: size)
    }
}
