import Boot
import CKVM
import Devices
import Glibc
import KVM
import Memory

/// A built virtual machine. `build` assembles it in one straight line
/// (firmware -> KVM VM -> memory -> devices -> vCPUs), each step with its own
/// error; `run` starts the vCPU threads and serves host input until it stops.
public final class Machine {
    let parts: MachineParts
    let vm: VirtualMachine
    let runners: [VCPURunner]
    private let serialInputFD: Int32?

    /// Guest-physical pages KVM may use on Intel hosts for real-mode
    /// emulation (KVM_SET_TSS_ADDR, 3 pages) and the EPT identity map (1
    /// page): just below the 16 MiB firmware window, as QEMU does.
    static let identityMapAddress: UInt64 = 0xFEFF_C000
    static let tssAddress: UInt64 = 0xFEFF_D000

    public static func build(_ config: MachineConfig) throws(MachineError) -> Machine {
        for path in [config.kernelPath, config.initrdPath].compactMap({ $0 }) where access(path, R_OK) != 0 {
            throw .cannotOpen(path: path, errno: errno)
        }
        if config.kernelPath != nil || config.initrdPath != nil || config.kernelCommandLine != nil {
            throw .notSupportedYet("-kernel/-initrd/-append (the Linux loader)")
        }
        guard let firmwarePath = config.firmwarePath else { throw .noFirmware }
        let firmware: FirmwareImage
        do { firmware = try FirmwareImage.load(path: firmwarePath) } catch { throw .boot(error) }

        let serialSink: (any ByteSink)?
        switch config.serial {
        case .stdio: serialSink = FileDescriptorSink(fd: 1, ownsFD: false)
        case .none: serialSink = nil
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
            serialSink = FileDescriptorSink(fd: fd, ownsFD: true)
        }

        do {
            let system = try KVMSystem(path: config.kvmDevicePath)
            let vm = try system.createVM()
            if system.checkExtension(KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0 {
                try vm.setIdentityMapAddress(identityMapAddress)
            }
            if system.checkExtension(KVM_CAP_SET_TSS_ADDR) > 0 {
                try vm.setTSSAddress(tssAddress)
            }
            try vm.createIRQChip()

            let memory: GuestMemory
            do {
                memory = try GuestMemory(ramSize: config.ramSize, rom: [(firmware.romBase, firmware.romContents)])
            } catch { throw MachineError.memory(error) }
            let readOnlyROM = system.checkExtension(KVM_CAP_READONLY_MEM) > 0
            var slot: UInt32 = 0
            try memory.forEachRegion { (region, host) throws(KVMError) in
                try vm.setUserMemoryRegion(slot: slot, guestAddress: region.base.rawValue, size: region.size,
                                           hostAddress: host, readOnly: region.readOnly && readOnlyROM)
                slot += 1
            }
            do { try firmware.installLowCopy(in: memory) } catch { throw MachineError.boot(error) }

            let lifecycle = try Lifecycle(startPaused: config.startPaused)
            let ports = PortIOBus()
            let mmio = MMIOBus()
            var serial: Serial16550?
            do {
                if let sink = serialSink {
                    let uart = Serial16550(output: sink, irq: KVMInterruptLine(vm: vm, gsi: Serial16550.com1IRQ))
                    try ports.register(uart, name: "serial (COM1)", base: Serial16550.com1Base,
                                       length: Serial16550.registerCount)
                    serial = uart
                }
                if let d = config.debugExit {
                    let device = DebugExit { status in lifecycle.requestStop(.debugExit(status: status)) }
                    try ports.register(device, name: "isa-debug-exit", base: d.base, length: d.size)
                }
            } catch { throw MachineError.bus(error) }

            let parts = MachineParts(config: config, lifecycle: lifecycle, memory: memory, ports: ports,
                                     mmio: mmio, firmware: firmware, serial: serial)
            let cpuid = try system.supportedCPUID()
            var runners: [VCPURunner] = []
            for i in 0..<config.vcpuCount {
                let vcpu = try vm.createVCPU(id: UInt32(i))
                try vcpu.setCPUID(CPUIDPolicy.table(for: i, count: config.vcpuCount, supported: cpuid))
                let runner = VCPURunner(vcpu: vcpu, index: i, machine: parts,
                                        stats: config.exitStats ? ExitStats() : nil)
                runner.applyResetState()
                runners.append(runner)
            }
            let inputFD: Int32? = config.serial == .stdio ? 0 : nil
            return Machine(parts: parts, vm: vm, runners: runners, serialInputFD: inputFD)
        } catch let error as KVMError {
            throw .kvm(error)
        } catch let error as MachineError {
            throw error
        } catch {
            throw .host("\(error)")
        }
    }

    private init(parts: MachineParts, vm: VirtualMachine, runners: [VCPURunner], serialInputFD: Int32?) {
        self.parts = parts
        self.vm = vm
        self.runners = runners
        self.serialInputFD = serialInputFD
    }

    public var lifecycle: Lifecycle { parts.lifecycle }

    /// Runs the VM until it stops; returns the process exit status.
    public func run() -> Int32 {
        installKickHandler()
        let signals = SignalWatcher()
        let terminal = RawTerminal(fd: 0)
        if serialInputFD != nil { terminal.enter() }
        defer { terminal.restore() }
        if parts.config.startPaused {
            Log.warning("-S: the VM waits for a monitor 'cont'; press Ctrl-A x to quit")
        }

        var threads: [pthread_t] = []
        for runner in runners {
            do {
                threads.append(try spawnThread(name: "vcpu\(runner.index)") { runner.run() })
            } catch {
                parts.lifecycle.requestStop(.failure(error.description))
                break
            }
        }
        let loop = EventLoop(parts: parts, inputFD: serialInputFD, signalFD: signals.fd) {
            for (runner, thread) in zip(self.runners, threads) {
                runner.vcpu.requestImmediateExit()
                pthread_kill(thread, kickSignal)
            }
        }
        let reason = loop.run()
        terminal.restore()
        if let message = reason.message { Log.writeLine("swiftvmm: " + message) }
        if parts.config.exitStats { Log.writeLine(ExitStats.summary(runners.compactMap(\.stats))) }
        return reason.exitStatus
    }
}
