import Machine

/// What QMP commands need from the VM. Machine provides it (through
/// `MachineAdapter`); tests provide a fake. Called on the main thread only.
public protocol QMPMachine: AnyObject {
    /// QEMU's RunState name: prelaunch, running, paused, shutdown,
    /// internal-error, guest-panicked.
    var statusName: String { get }
    var isRunning: Bool { get }
    var name: String? { get }
    /// (cpu-index, host thread id) per vCPU.
    var cpus: [(index: Int, threadID: Int32)] { get }
    /// The disks: (device name, image path, read-only, size in bytes).
    var disks: [(device: String, path: String, readOnly: Bool, size: UInt64)] { get }
    /// The network cards: name, MAC, tap and counters.
    var nics: [NICInfo] { get }
    /// Stops the vCPUs; the STOP event is sent before this returns.
    func stop()
    /// Resumes; the RESUME event is sent before this returns.
    func cont() throws(QMPError)
    func systemReset()
    func systemPowerdown() throws(QMPError)
    /// Ends the VMM; the SHUTDOWN event is sent before this returns.
    func quit()
    func registersText() -> String
    /// (name, count) of each instruction the VMM completed for the host's
    /// emulator, over all vCPUs (EmulationFallback).
    var emulationFallbacks: [(name: String, count: UInt64)] { get }
}

/// Machine as a QMPMachine.
public final class MachineAdapter: QMPMachine {
    let machine: Machine

    public init(_ machine: Machine) { self.machine = machine }

    public var statusName: String {
        switch machine.runState {
        case .prelaunch: "prelaunch"
        case .running: "running"
        case .paused: "paused"
        case .stopping: "shutdown"
        case .internalError: "internal-error"
        }
    }

    public var isRunning: Bool { machine.runState == .running }
    public var name: String? { machine.config.name }
    public var cpus: [(index: Int, threadID: Int32)] { machine.vcpuThreadIDs.enumerated().map { ($0.offset, $0.element) } }
    public var disks: [(device: String, path: String, readOnly: Bool, size: UInt64)] { machine.diskInfo }
    public var nics: [NICInfo] { machine.nicInfo }

    public func stop() { machine.pause() }

    public func cont() throws(QMPError) {
        switch machine.runState {
        case .internalError:
            throw .generic("Resetting the Virtual Machine is required")
        case .stopping:
            throw .generic("The VM is shutting down")
        default:
            machine.resume()
        }
    }

    public func systemReset() { machine.systemReset() }

    /// Presses the ACPI power button; POWERDOWN is announced.
    public func systemPowerdown() throws(QMPError) {
        machine.pressPowerButton()
    }

    public func quit() { machine.quit() }
    public func registersText() -> String { machine.registerReport() }
    public var emulationFallbacks: [(name: String, count: UInt64)] { machine.emulationFallbacks }
}
