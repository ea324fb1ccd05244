import Devices
import KVM
import Memory

/// The PC's fixed ISA devices, wired to the port bus and the irqchip:
/// the 8254 PIT (0x40-0x43, IRQ 0) with port 0x61.
final class PCPlatform: Sendable {
    let pit: PIT8254
    let pitAlarm: TimerFDAlarm

    init(vm: VirtualMachine, ports: PortIOBus) throws(MachineError) {
        let clock = HostTickSource()
        pitAlarm = try TimerFDAlarm()
        pit = PIT8254(clock: clock, irq: KVMInterruptLine(vm: vm, gsi: PIT8254.irq), alarm: pitAlarm)
        do {
            try ports.register(pit, name: "i8254 PIT", base: PIT8254.basePort, length: PIT8254.portCount)
            try ports.register(PITPort61(pit: pit, clock: clock), name: "port 0x61", base: PITPort61.port, length: 1)
        } catch {
            throw .bus(error)
        }
    }

    func reset() {
        pit.reset()
    }
}
