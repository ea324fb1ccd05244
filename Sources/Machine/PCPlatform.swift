import Boot
import Devices
import KVM
import Memory
import Synchronization

/// The PC's fixed ISA devices, wired to the port bus and the irqchip:
/// the 8254 PIT (0x40-0x43, IRQ 0) with port 0x61, the CMOS RTC
/// (0x70-0x71), the i8042 keyboard controller (0x60, 0x64, IRQ 1) and the
/// ACPI PM1a blocks (0x600-0x605, SCI on IRQ 9) the ACPI tables describe,
/// and PCI bus 0 behind 0xCF8/0xCFC with the i440FX host bridge.
final class PCPlatform: Sendable {
    let pit: PIT8254
    let pitAlarm: TimerFDAlarm
    let cmos: CMOS146818
    let i8042: I8042
    let powerManagement: ACPIPowerManagement
    let pci: PCIHostBridge

    init(vm: VirtualMachine, ports: PortIOBus, mmio: MMIOBus, config: MachineConfig, onGuestReset: @escaping @Sendable () -> Void,
         onGuestPowerOff: @escaping @Sendable () -> Void) throws(MachineError) {
        let clock = HostTickSource()
        pitAlarm = try TimerFDAlarm()
        pit = PIT8254(clock: clock, irq: KVMInterruptLine(vm: vm, gsi: PIT8254.irq), alarm: pitAlarm)
        cmos = CMOS146818(clock: HostWallClock(), ramSize: config.ramSize, cpus: config.vcpuCount)
        i8042 = I8042(irq: KVMInterruptLine(vm: vm, gsi: I8042.keyboardIRQ), onReset: onGuestReset)
        pci = PCIHostBridge(ports: ports, mmio: mmio, onReset: onGuestReset)
        powerManagement = ACPIPowerManagement(sci: KVMInterruptLine(vm: vm, gsi: UInt32(ACPITables.sciIRQ)),
                                              onPowerOff: onGuestPowerOff)
        do {
            try ports.register(pit, name: "i8254 PIT", base: PIT8254.basePort, length: PIT8254.portCount)
            try ports.register(PITPort61(pit: pit, clock: clock), name: "port 0x61", base: PITPort61.port, length: 1)
            try ports.register(cmos, name: "CMOS RTC", base: CMOS146818.basePort, length: 2)
            try ports.register(i8042, name: "i8042 data", base: I8042.dataPort, length: 1)
            try ports.register(PortAlias(i8042, offset: 4), name: "i8042 command", base: I8042.commandPort, length: 1)
            try ports.register(pci, name: "PCI config", base: PCIHostBridge.configAddressPort,
                               length: PCIHostBridge.portCount)
            try ports.register(powerManagement, name: "ACPI PM1a", base: ACPITables.pm1aEventBlock,
                               length: ACPIPowerManagement.eventBlockLength + ACPIPowerManagement.controlBlockLength)
        } catch {
            throw .bus(error)
        }
    }

    func reset() {
        pit.reset()
        i8042.reset()
        powerManagement.reset()
    }
}
