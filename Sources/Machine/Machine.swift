import Boot
import CKVM
import CLinuxHost
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
    private let loop: EventLoop

    /// Guest-physical pages KVM may use on Intel hosts for real-mode
    /// emulation (KVM_SET_TSS_ADDR, 3 pages) and the EPT identity map (1
    /// page): just below the 16 MiB firmware window, as QEMU does.
    static let identityMapAddress: UInt64 = 0xFEFF_C000
    static let tssAddress: UInt64 = 0xFEFF_D000

    public static func build(_ config: MachineConfig) throws(MachineError) -> Machine {
        let (firmware, kernelPlan) = try bootSource(config)

        let serialSink: (any ByteSink)?
        switch config.serial {
        case .stdio: serialSink = FileDescriptorSink(fd: 1, ownsFD: false)
        case .none: serialSink = nil
        case .file(let path):
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
            serialSink = FileDescriptorSink(fd: fd, ownsFD: true)
        }

        var debugSink: (any ByteSink)?
        switch config.debugConsole {
        case nil, .none?: debugSink = nil
        case .stdio?: debugSink = FileDescriptorSink(fd: 1, ownsFD: false)
        case .file(let path)?:
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
            debugSink = FileDescriptorSink(fd: fd, ownsFD: true)
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
            let routing = system.checkExtension(KVM_CAP_IRQ_ROUTING) > 0
            if routing { try vm.setGSIRouting(GSIRoute.pcDefaults) }
            let msi = KVMMSIRouter(vm: vm, routing: routing && system.checkExtension(KVM_CAP_IRQFD) > 0)

            let memory: GuestMemory
            do {
                let rom = firmware.map { [($0.romBase, $0.romContents)] } ?? []
                memory = try GuestMemory(ramSize: config.ramSize, rom: rom)
            } catch { throw MachineError.memory(error) }
            let readOnlyROM = system.checkExtension(KVM_CAP_READONLY_MEM) > 0
            var slot: UInt32 = 0
            try memory.forEachRegion { (region, host) throws(KVMError) in
                try vm.setUserMemoryRegion(slot: slot, guestAddress: region.base.rawValue, size: region.size,
                                           hostAddress: host, readOnly: region.readOnly && readOnlyROM)
                slot += 1
            }
            do {
                try firmware?.installLowCopy(in: memory)
                try kernelPlan?.install(in: memory)
            } catch { throw MachineError.boot(error) }

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
                if let sink = debugSink {
                    try ports.register(DebugConsole(sink: sink), name: "isa-debugcon", base: config.debugConsolePort, length: 1)
                }
                if let d = config.debugExit {
                    let device = DebugExit { status in lifecycle.requestStop(.debugExit(status: status)) }
                    try ports.register(device, name: "isa-debug-exit", base: d.base, length: d.size)
                }
            } catch { throw MachineError.bus(error) }

            let cpuid = try system.supportedCPUID()
            var handles: [VCPUHandle] = []
            for i in 0..<config.vcpuCount {
                let vcpu = try vm.createVCPU(id: UInt32(i))
                let table = CPUIDPolicy.table(for: i, count: config.vcpuCount, supported: cpuid,
                                              changes: config.cpuFeatureChanges.map { ($0.name, $0.enabled) })
                config.hostQuirks.apply(to: table)
                try vcpu.setCPUID(table)
                try vcpu.setMSRs(CPUIDPolicy.initialMSRs)
                handles.append(VCPUHandle(vcpu: vcpu, index: i))
            }
            // The platform devices call back into the parts (reset), which
            // exist only after them: the box breaks the cycle.
            let partsBox = LateReference<MachineParts>()
            let platform = try PCPlatform(vm: vm, ports: ports, mmio: mmio, config: config,
                                          onGuestReset: { partsBox.value?.guestRequestedReset() },
                                          onGuestPowerOff: { lifecycle.requestStop(.guestPowerOff) })
            var disks: [BlockDevice] = []
            for (i, drive) in config.drives.enumerated() {
                disks.append(try BlockDevice(drive: drive, index: i, vm: vm, msi: msi, memory: memory,
                                             platform: platform, ports: ports, mmio: mmio))
            }
            var nics: [NetDevice] = []
            for (i, nic) in config.nics.enumerated() {
                nics.append(try NetDevice(nic: nic, slotIndex: disks.count + i, vm: vm, msi: msi, memory: memory,
                                          platform: platform, ports: ports, mmio: mmio))
            }
            let parts = MachineParts(config: config, lifecycle: lifecycle, memory: memory, ports: ports,
                                     mmio: mmio, firmware: firmware, kernelPlan: kernelPlan, serial: serial,
                                     platform: platform, disks: disks, nics: nics, vcpus: handles)
            partsBox.set(parts)
            let runners = handles.map { h in
                let runner = VCPURunner(handle: h, machine: parts, stats: config.exitStats ? ExitStats() : nil)
                runner.applyResetState()
                return runner
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

    /// The firmware image, or the kernel plan: exactly one boots the VM.
    static func bootSource(_ config: MachineConfig) throws(MachineError) -> (FirmwareImage?, KernelBootPlan?) {
        guard let kernelPath = config.kernelPath else {
            if config.initrdPath != nil { throw .host("-initrd needs -kernel") }
            if config.kernelCommandLine != nil { throw .host("-append needs -kernel") }
            guard let firmwarePath = config.firmwarePath else { throw .noFirmware }
            do { return (try FirmwareImage.load(path: firmwarePath), nil) } catch { throw .boot(error) }
        }
        if config.firmwarePath != nil {
            throw .host("-bios and -kernel together are not supported: the kernel is started directly, without firmware")
        }
        do throws(BootError) {
            // Limits before reading: a kernel over 512 MiB or an initrd larger
            // than RAM cannot be booted anyway.
            guard case .contents(let kernel) = try FileReader.read(kernelPath, limit: 512 << 20) else {
                throw BootError.unsupportedKernel(path: kernelPath, why: "larger than 512 MiB")
            }
            var initrd: [UInt8]?
            if let initrdPath = config.initrdPath {
                switch try FileReader.read(initrdPath, limit: Int(min(config.ramSize, 1 << 32))) {
                case .contents(let bytes): initrd = bytes
                case .tooLarge(let size):
                    throw BootError.initrdTooLarge(path: initrdPath, size: UInt64(size), room: config.ramSize)
                }
            }
            let given = config.kernelCommandLine ?? ""
            let (commandLine, added) = LinuxLoader.isLinux(kernel) ? config.hostQuirks.linuxCommandLine(given) : (given, [])
            let plan = try LinuxLoader.plan(kernelPath: kernelPath, kernel: kernel, commandLine: commandLine,
                                            initrdPath: config.initrdPath, initrd: initrd, ramSize: config.ramSize,
                                            cpus: config.vcpuCount)
            if !added.isEmpty {
                Log.warning("this host's KVM (kvm_pvm) cannot hide XSAVE/POPCNT from the guest: "
                            + "kernel command line += \(added.joined(separator: " "))")
            }
            return (nil, plan)
        } catch {
            throw .boot(error)
        }
    }

    private init(parts: MachineParts, vm: VirtualMachine, runners: [VCPURunner], serialInputFD: Int32?) {
        self.parts = parts
        self.vm = vm
        self.runners = runners
        self.serialInputFD = serialInputFD
        loop = EventLoop(parts: parts, inputFD: serialInputFD)
        let platform = parts.platform
        loop.watch(platform.pitAlarm.fd, events: EPOLLIN.rawValue) { _ in
            platform.pitAlarm.acknowledge()
            platform.pit.alarmFired()
        }
    }

    public var lifecycle: Lifecycle { parts.lifecycle }
    public var config: MachineConfig { parts.config }

    /// Runs the VM until it stops; returns the process exit status.
    public func run() -> Int32 {
        installKickHandler()
        let terminal = RawTerminal(fd: 0)
        if serialInputFD != nil { terminal.enter() }
        defer { terminal.restore() }
        if parts.config.startPaused && !hasMonitor {
            Log.warning("-S without a monitor: the VM cannot be started; press Ctrl-A x to quit")
        }
        for runner in runners {
            do {
                _ = try spawnThread(name: "vcpu\(runner.index)") { runner.run() }
            } catch {
                parts.lifecycle.requestStop(.failure(error.description))
                break
            }
        }
        loop.kickAll = { [unowned self] in self.kickAll() }
        loop.announce = { [unowned self] event in self.announce(event) }
        let reason = loop.run()
        terminal.restore()
        // Whatever stopped us (the guest, a monitor, a signal): the disks'
        // batches in progress end, then what they wrote is made durable.
        parts.setDevicesPaused(true)
        for disk in parts.disks where !disk.block.flushBackend() {
            Log.warning("\(disk.path): the final flush failed: \(errnoText(errno))")
        }
        if let cause = reason.shutdownCause { announce(.shutdown(guest: cause.guest, reason: cause.reason)) }
        if let message = reason.message { Log.writeLine("swiftvmm: " + message) }
        if parts.config.exitStats { Log.writeLine(ExitStats.summary(runners.compactMap(\.stats))) }
        return reason.exitStatus
    }

    // MARK: control, for a monitor (main thread only)

    /// Receives every MachineEvent, on the main thread. Set before `run`.
    public var onEvent: (MachineEvent) -> Void = { _ in }
    private var shutdownAnnounced = false
    private var hasMonitor = false

    private func announce(_ event: MachineEvent) {
        if case .shutdown = event {
            if shutdownAnnounced { return }
            shutdownAnnounced = true
        }
        onEvent(event)
    }

    /// A monitor is attached: a failure holds the VM (internal-error)
    /// instead of ending the process, as QEMU does.
    public func attachMonitor() {
        hasMonitor = true
        parts.lifecycle.setHoldOnFailure(true)
    }

    /// Calls `handler` on the main thread when `fd` has `events` (EPOLLIN...).
    public func watch(_ fd: Int32, events: UInt32, _ handler: @escaping (UInt32) -> Void) {
        loop.watch(fd, events: events, handler)
    }

    public func unwatch(_ fd: Int32) { loop.unwatch(fd) }

    public var runState: Lifecycle.RunState { parts.lifecycle.runState }

    /// Stops the vCPUs: returns once every vCPU thread is out of KVM_RUN and
    /// parked (or after a second), then announces STOP. False if not running.
    @discardableResult
    public func pause() -> Bool {
        guard parts.lifecycle.pause() else { return false }
        waitUntilParked()
        parts.setDevicesPaused(true)
        announce(.stop)
        return true
    }

    /// Starts or resumes the vCPUs and announces RESUME. False if the VM
    /// cannot run (held after a failure, or stopping).
    @discardableResult
    public func resume() -> Bool {
        let state = parts.lifecycle.runState
        guard state != .running else { return true }
        guard state == .paused || state == .prelaunch else { return false }
        parts.setDevicesPaused(false)
        guard parts.lifecycle.resume() else { return false }
        announce(.resume)
        return true
    }

    /// A reset requested by the host (QMP system_reset).
    public func systemReset() {
        parts.resetPlatform(byGuest: false)
    }

    /// The ACPI power button (QMP system_powerdown); announces POWERDOWN.
    /// Whether the guest acts on it is the guest's business.
    public func pressPowerButton() {
        parts.platform.powerManagement.pressPowerButton()
        announce(.powerdown)
    }

    /// Ends the VM on the monitor's request; SHUTDOWN is announced now, so a
    /// monitor can send it before its reply, as QEMU does.
    public func quit() {
        announce(.shutdown(guest: false, reason: "host-qmp-quit"))
        parts.lifecycle.requestStop(.hostQuit)
    }

    /// The virtio-blk disks: device name (virtio0, ...), path, read-only, size.
    public var diskInfo: [(device: String, path: String, readOnly: Bool, size: UInt64)] {
        zip(parts.config.drives, parts.disks).enumerated().map { i, pair in
            (pair.0.id ?? "virtio\(i)", pair.0.path, pair.0.readOnly, pair.1.block.backend.size)
        }
    }

    /// The network cards: id, MAC, tap and counters.
    public var nicInfo: [NICInfo] { parts.nics.map(\.info) }
    public var emulationFallbacks: [(name: String, count: UInt64)] { parts.fallbacks.all }

    /// The vCPU threads' Linux thread ids, by vCPU index.
    public var vcpuThreadIDs: [Int32] { parts.vcpus.map { $0.threadID.load(ordering: .relaxed) } }

    /// HMP's "info registers": the vCPUs' state, read with the vCPUs parked
    /// (a running VM is paused for the read, silently, and resumed).
    public func registerReport() -> String {
        let wasRunning = parts.lifecycle.runState == .running
        if wasRunning {
            parts.lifecycle.pause()
            waitUntilParked()
        }
        defer { if wasRunning { parts.lifecycle.resume() } }
        return runners.map { "CPU#\($0.index)\n" + CrashReport.registers(vcpu: $0.vcpu, index: $0.index, memory: parts.memory) }
            .joined(separator: "\n")
    }

    private func kickAll() { parts.kickAll() }

    private func waitUntilParked() {
        kickAll()
        for _ in 0..<1000 {
            let live = parts.vcpus.filter { !$0.finished.load(ordering: .acquiring) }.count
            if parts.lifecycle.parkedVCPUs >= live { return }
            usleep(1000)
        }
        Log.warning("not every vCPU stopped within a second")
    }
}
