import Boot
import Devices
import KVM
import Memory

/// What the vCPU threads and the event loop share: immutable after build.
final class MachineParts: Sendable {
    let config: MachineConfig
    let lifecycle: Lifecycle
    let memory: GuestMemory
    let ports: PortIOBus
    let mmio: MMIOBus
    /// What boots: firmware at the reset vector, or a kernel loaded directly.
    let firmware: FirmwareImage?
    let kernelPlan: KernelBootPlan?
    let serial: Serial16550?
    let platform: PCPlatform
    let disks: [BlockDevice]
    let nics: [NetDevice]
    let vcpus: [VCPUHandle]
    /// Instructions completed for the host's emulator, counted over all vCPUs.
    let fallbacks = EmulationFallbackCounters()
    var vcpuCount: Int { vcpus.count }

    init(config: MachineConfig, lifecycle: Lifecycle, memory: GuestMemory, ports: PortIOBus, mmio: MMIOBus,
         firmware: FirmwareImage?, kernelPlan: KernelBootPlan?, serial: Serial16550?, platform: PCPlatform,
         disks: [BlockDevice], nics: [NetDevice], vcpus: [VCPUHandle]) {
        self.config = config
        self.lifecycle = lifecycle
        self.memory = memory
        self.ports = ports
        self.mmio = mmio
        self.firmware = firmware
        self.kernelPlan = kernelPlan
        self.serial = serial
        self.platform = platform
        self.disks = disks
        self.nics = nics
        self.vcpus = vcpus
    }

    /// Kicks every vCPU out of KVM_RUN (any thread).
    func kickAll() {
        for v in vcpus { v.kick() }
    }

    /// Stops (or restarts) the virtio devices' I/O with the VM: returns once
    /// the batches in progress have ended, so a stopped VM's memory, disks
    /// and network stay still (QEMU does the same on stop).
    func setDevicesPaused(_ paused: Bool) {
        for d in disks { d.block.setPaused(paused) }
        for n in nics { n.net.setPaused(paused) }
    }

    /// The guest asked for a reset (triple fault, i8042 0xFE): with
    /// -no-reboot that ends the VM, otherwise the platform resets.
    func guestRequestedReset() {
        if config.noReboot {
            lifecycle.requestStop(.resetWithNoReboot)
        } else {
            resetPlatform(byGuest: true)
        }
    }

    /// A platform reset: devices to their reset state, the BIOS copy below
    /// 1 MiB (or the kernel) restored, then every vCPU kicked to reload its reset state (so
    /// the one that asked runs no further guest code first).
    func resetPlatform(byGuest: Bool) {
        serial?.reset()
        platform.reset()
        for d in disks { d.transport.reset() }
        for n in nics { n.transport.reset() }
        do {
            // The guest may have overwritten both the BIOS copy and the kernel.
            try firmware?.installLowCopy(in: memory)
            try kernelPlan?.install(in: memory)
        } catch {
            lifecycle.requestStop(.failure("reset failed: \(error)"))
            return
        }
        lifecycle.requestReset(byGuest: byGuest)
        kickAll()
    }
}

/// Devices' view of an irqchip input: KVM_IRQ_LINE on a GSI.
struct KVMInterruptLine: InterruptLine {
    let vm: VirtualMachine
    let gsi: UInt32

    func setLevel(_ high: Bool) {
        do {
            try vm.setIRQLine(gsi, level: high)
        } catch {
            Log.warning("IRQ \(gsi): \(error)")
        }
    }
}
