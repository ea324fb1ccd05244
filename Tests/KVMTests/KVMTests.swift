import CKVM
import CLinuxHost
import Glibc
@testable import KVM
import Testing

@Suite("KVM errors")
struct KVMErrorTests {
    @Test("a missing device says so and names the path")
    func missingDevice() {
        #expect {
            _ = try KVMSystem(path: "/nonexistent/kvm")
        } throws: { error in
            let e = error as! KVMError
            return e.errno == ENOENT && e.description.contains("/nonexistent/kvm does not exist")
        }
    }

    @Test("errors carry the ioctl name and the errno text")
    func description() {
        let e = KVMError("KVM_CREATE_VM", errno: EBADF)
        #expect(e.description == "KVM_CREATE_VM failed: Bad file descriptor (errno 9)")
    }
}

enum Host {
    static var hasKVM: Bool { access("/dev/kvm", F_OK) == 0 }
}

@Suite("KVM on /dev/kvm", .enabled(if: Host.hasKVM, "skipped: no /dev/kvm"))
struct KVMDeviceTests {
    @Test("API version 12, a VM with an irqchip, a vCPU with a kvm_run mapping")
    func createVM() throws {
        let system = try KVMSystem()
        #expect(system.checkExtension(KVM_CAP_USER_MEMORY) > 0)
        #expect(try system.vcpuMmapSize() >= 4096)
        let vm = try system.createVM()
        try vm.createIRQChip()
        try vm.setIRQLine(4, level: true)
        try vm.setIRQLine(4, level: false)
        let vcpu = try vm.createVCPU(id: 0)
        let sregs = try vcpu.specialRegisters()
        // A new vCPU is in the x86 reset state.
        #expect(sregs.cs.selector == 0xF000)
        #expect(try vcpu.registers().rip == 0xFFF0)
    }

    @Test("a VM on a bad fd fails every ioctl with EBADF")
    func badFD() throws {
        let system = try KVMSystem()
        let vm = VirtualMachine(fd: OwnedFileDescriptor(dup(-1)), system: system)
        #expect(throws: KVMError("KVM_CREATE_IRQCHIP", errno: EBADF)) { try vm.createIRQChip() }
        #expect(throws: KVMError("KVM_IRQ_LINE", errno: EBADF)) { try vm.setIRQLine(4, level: true) }
        #expect(throws: KVMError("KVM_CREATE_VCPU", errno: EBADF)) { _ = try vm.createVCPU(id: 0) }
    }

    @Test("MSI, irqfd and ioeventfd are accepted by a VM with an irqchip")
    func msiAndEventFDs() throws {
        let system = try KVMSystem()
        let vm = try system.createVM()
        try vm.createIRQChip()
        _ = try vm.createVCPU(id: 0)
        #expect(system.checkExtension(KVM_CAP_SIGNAL_MSI) > 0)
        // Fixed delivery to APIC id 0, vector 0x30: accepted (the vCPU has not enabled its APIC: maybe blocked).
        _ = try vm.signalMSI(address: 0xFEE0_0000, data: 0x30)
        let efd = eventfd(0, 0)
        defer { close(efd) }
        try vm.irqfd(efd, gsi: 10)
        try vm.irqfd(efd, gsi: 10, deassign: true)
        try vm.ioeventfd(efd, address: 0xD000_0000, length: 4)
        try vm.ioeventfd(efd, address: 0xD000_0000, length: 4, deassign: true)
        #expect(throws: KVMError.self) { try vm.ioeventfd(efd, address: 0xD000_0000, length: 3) }
    }

    @Test("GSI routing: the PC defaults plus an MSI route, and an irqfd on it")
    func gsiRouting() throws {
        let vm = try KVMSystem().createVM()
        try vm.createIRQChip()
        #expect(GSIRoute.pcDefaults.count == 40)  // 16 x (IOAPIC + PIC) + 8 x IOAPIC
        #expect(GSIRoute.pcDefaults.contains(.irqchip(gsi: 9, chip: 1, pin: 1)))
        try vm.setGSIRouting(GSIRoute.pcDefaults + [.msi(gsi: 24, address: 0xFEE0_0000, data: 0x41)])
        let efd = eventfd(0, 0)
        defer { close(efd) }
        try vm.irqfd(efd, gsi: 24)
        try vm.setIRQLine(4, level: true)
        try vm.setIRQLine(4, level: false)
    }

    @Test("supported CPUID lists the basic leaves; a copy is independent")
    func cpuid() throws {
        let table = try KVMSystem().supportedCPUID()
        #expect(table.count > 0)
        #expect(table.entry(function: 0) != nil)
        let copy = table.copy()
        copy.update(function: 0) { $0.eax = 0xDEAD }
        #expect(table.entry(function: 0)?.eax != 0xDEAD)
        #expect(copy.entry(function: 0)?.eax == 0xDEAD)
        #expect(!copy.update(function: 0x7777_7777) { _ in })
    }

    @Test("a guest with no memory at the reset vector stops with an exit, not a crash")
    func runWithoutMemory() throws {
        let vm = try KVMSystem().createVM()
        try vm.createIRQChip()
        let vcpu = try vm.createVCPU(id: 0)
        // Fetching from unbacked 0xFFFFFFF0 is an MMIO exit, an error exit,
        // or (kvm_pvm) KVM_RUN failing with ENOSPC: a typed error either way.
        let exit: VCPUExit
        do {
            exit = try vcpu.runOnce()
        } catch {
            #expect(error.operation == "KVM_RUN")
            return
        }
        switch exit {
        case .mmio(let m): #expect(m.address >= 0xFFFF_0000)
        case .internalError, .failEntry, .shutdown: break
        default: Issue.record("unexpected exit \(exit)")
        }
    }

    @Test("MSRs: read back what was written")
    func msrs() throws {
        let vm = try KVMSystem().createVM()
        let vcpu = try vm.createVCPU(id: 0)
        let sysenterCS: UInt32 = 0x174
        try vcpu.setMSRs([(sysenterCS, 0x10)])
        #expect(try vcpu.msrs([sysenterCS]).first?.value == 0x10)
    }
}
