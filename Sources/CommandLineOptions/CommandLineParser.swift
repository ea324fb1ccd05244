import Control
import Machine

/// What the command line asks for.
public enum Command: Equatable {
    case run(MachineConfig, qmp: [QMPEndpoint])
    case help
    case version
    /// `-d help`: the log items.
    case logItemsHelp
}

/// QEMU's option grammar for the subset SwiftVMM supports: single-dash long
/// options (`-m 512M`, `-device isa-debug-exit,iobase=0xf4`), with the
/// double-dash spelling accepted too. swift-argument-parser does not model
/// this grammar (repeated `-device`, `key=value` lists), hence our own.
public struct CommandLineParser {
    /// Options that take a value.
    static let valued: Set<String> = ["m", "smp", "bios", "kernel", "initrd", "append", "serial", "device",
                                      "display", "name", "log-level", "qmp", "cpu", "drive", "debugcon", "global",
                                      "netdev", "nic", "d", "qmp-max-clients"]
    /// Options that are flags.
    static let flags: Set<String> = ["no-reboot", "nographic", "nodefaults", "enable-kvm", "S", "h", "help",
                                     "version", "exit-stats"]

    public init() {}

    public func parse(_ arguments: [String]) throws(CommandLineError) -> Command {
        var config = MachineConfig()
        var serials: [String] = []
        var nodefaults = false
        var qmp: [QMPEndpoint] = []
        var unattached: [MachineConfig.DriveConfig] = []  // -drive if=none, waiting for a -device
        var network = NetworkOptions()
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            i += 1
            guard arg.hasPrefix("-"), arg.count > 1 else {
                throw CommandLineError("unexpected argument '\(arg)' (options start with '-'; see -help)")
            }
            let name = String(arg.hasPrefix("--") ? arg.dropFirst(2) : arg.dropFirst())
            if CommandLineParser.flags.contains(name) {
                switch name {
                case "h", "help": return .help
                case "version": return .version
                case "no-reboot": config.noReboot = true
                case "nodefaults": nodefaults = true
                case "S": config.startPaused = true
                case "exit-stats": config.exitStats = true
                default: break  // -nographic, -enable-kvm: what we do anyway
                }
                continue
            }
            guard CommandLineParser.valued.contains(name) else {
                throw CommandLineError("unknown option '\(arg)' (see -help)")
            }
            guard i < arguments.count else { throw CommandLineError("option '\(arg)' needs a value") }
            let value = arguments[i]
            i += 1
            switch name {
            case "m": config.ramSize = try memorySize(value)
            case "smp": config.vcpuCount = try vcpuCount(value)
            case "bios": config.firmwarePath = try path(value, option: arg)
            case "kernel": config.kernelPath = try path(value, option: arg)
            case "initrd": config.initrdPath = try path(value, option: arg)
            case "append": config.kernelCommandLine = value
            case "serial": serials.append(value)
            case "debugcon": config.debugConsole = try serial(value)
            case "global":
                // Only isa-debugcon.iobase=N (SeaBIOS logs to 0x402).
                let parts = value.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, parts[0] == "isa-debugcon.iobase", let port = OptionValues.integer(parts[1]),
                      port <= 0xFFFF else {
                    throw CommandLineError("-global '\(value)': only isa-debugcon.iobase=PORT is supported")
                }
                config.debugConsolePort = UInt16(port)
            case "device":
                if OptionValues.keyValueList(value).first == "virtio-net-pci" {
                    try network.addDevice(value)
                } else {
                    try device(value, into: &config, unattached: &unattached)
                }
            case "netdev": try network.addNetdev(value)
            case "nic": try network.addNIC(value)
            case "drive":
                let (drive, attach) = try drive(value)
                if attach { config.drives.append(drive) } else { unattached.append(drive) }
            case "display":
                guard value == "none" else { throw CommandLineError("-display '\(value)': only 'none' is supported") }
            case "name":
                let (first, options) = OptionValues.keyValueList(value)
                config.name = options.first { $0.key == "guest" }?.value ?? first
            case "log-level": config.logLevel = try logLevel(value)
            case "d":
                if value == "help" { return .logItemsHelp }
                config.logFallbacks = try logItems(value).contains("fallbacks")
            case "cpu": config.cpuFeatureChanges = try cpu(value)
            case "qmp-max-clients":
                guard let n = Int(value), n >= 1, n <= 4096 else {
                    throw CommandLineError("-qmp-max-clients '\(value)': expected a number from 1 to 4096")
                }
                config.qmpClientLimit = n
            case "qmp":
                do { qmp.append(try QMPEndpoint.parse(value)) } catch { throw CommandLineError(error.description) }
            default: break
            }
        }
        try OptionValues.requireUnique((config.drives + unattached).compactMap(\.id), kind: "drive")
        config.nics = try network.cards()
        if serials.count > 1 { throw CommandLineError("-serial: only one serial port (COM1) is supported") }
        if let s = serials.first {
            config.serial = try serial(s)
        } else if nodefaults {
            config.serial = .none
        }
        return .run(config, qmp: qmp)
    }

    func memorySize(_ value: String) throws(CommandLineError) -> UInt64 {
        var text = value
        if text.hasPrefix("size=") { text.removeFirst(5) }
        if text.contains(",") { throw CommandLineError("-m '\(value)': only a size is supported (no slots/maxmem)") }
        guard let bytes = OptionValues.size(text, defaultUnit: 1 << 20) else {
            throw CommandLineError("-m '\(value)': not a size (examples: 512, 512M, 2G)")
        }
        guard bytes >= MachineConfig.minimumRAM else {
            throw CommandLineError("-m '\(value)': too small; the minimum is \(MachineConfig.minimumRAM >> 20) MiB")
        }
        guard bytes <= MachineConfig.maximumRAM else {
            throw CommandLineError("-m '\(value)': too large; the maximum is \(MachineConfig.maximumRAM >> 30) GiB")
        }
        guard bytes % 4096 == 0 else { throw CommandLineError("-m '\(value)': must be a multiple of 4 KiB") }
        return bytes
    }

    func vcpuCount(_ value: String) throws(CommandLineError) -> Int {
        let (first, options) = OptionValues.keyValueList(value)
        var text = first
        if first.hasPrefix("cpus=") { text = String(first.dropFirst(5)) }
        if let bad = options.first(where: { $0.key != "cpus" }) {
            throw CommandLineError("-smp '\(value)': '\(bad.key)' is not supported (give a CPU count)")
        }
        if let cpus = options.first(where: { $0.key == "cpus" }) { text = cpus.value }
        guard let n = Int(text), n >= 1, n <= MachineConfig.maximumVCPUs else {
            throw CommandLineError("-smp '\(value)': expected a CPU count from 1 to \(MachineConfig.maximumVCPUs)")
        }
        return n
    }

    func path(_ value: String, option: String) throws(CommandLineError) -> String {
        guard !value.isEmpty else { throw CommandLineError("\(option): empty file name") }
        return value
    }

    func serial(_ value: String) throws(CommandLineError) -> MachineConfig.SerialBackend {
        switch value {
        case "stdio", "mon:stdio": return .stdio
        case "none", "null": return .none
        default:
            if value.hasPrefix("file:"), value.count > 5 { return .file(String(value.dropFirst(5))) }
            throw CommandLineError("-serial '\(value)': supported are stdio, file:PATH, none")
        }
    }

    /// `-drive file=PATH,format=raw,if=virtio|none[,readonly=on][,cache=none|writeback][,id=ID]`.
    /// Returns the drive and whether it is attached now (if=virtio).
    func drive(_ value: String) throws(CommandLineError) -> (MachineConfig.DriveConfig, Bool) {
        let (first, rest) = OptionValues.keyValueList(value)
        let options = (first.contains("=") ? OptionValues.keyValueList("x," + first).options : []) + rest
        var path: String?, readOnly = false, id: String?, interface: String?, format: String?, locking = true
        for (key, v) in options {
            switch key {
            case "file": path = v
            case "format":
                guard v == "raw" else { throw CommandLineError("-drive: format=\(v) is not supported (raw only)") }
                format = v
            case "if": interface = v
            case "readonly":
                guard v == "on" || v == "off" else { throw CommandLineError("-drive: readonly takes on or off") }
                readOnly = v == "on"
            case "cache":
                guard v == "none" || v == "writeback" else {
                    throw CommandLineError("-drive: cache=\(v) is not supported (none or writeback)")
                }
            case "id": id = try OptionValues.identifier(v, option: "-drive")
            case "file.locking":
                // QEMU: on, off, or auto (on where the host supports OFD locks, as Linux does).
                guard ["on", "off", "auto"].contains(v) else { throw CommandLineError("-drive: file.locking takes on, off or auto") }
                locking = v != "off"
            default: throw CommandLineError("-drive: unknown option '\(key)'")
            }
        }
        guard let path, !path.isEmpty else { throw CommandLineError("-drive '\(value)': file=PATH is missing") }
        switch interface {
        case "virtio": return (.init(path: path, readOnly: readOnly, id: id, format: format, locking: locking), true)
        case "none":
            guard id != nil else { throw CommandLineError("-drive '\(value)': if=none needs id=ID for -device virtio-blk-pci,drive=ID") }
            return (.init(path: path, readOnly: readOnly, id: id, format: format, locking: locking), false)
        case nil: throw CommandLineError("-drive '\(value)': add if=virtio (there is no IDE controller)")
        case let other?: throw CommandLineError("-drive '\(value)': if=\(other) is not supported (virtio or none)")
        }
    }

    func device(_ value: String, into config: inout MachineConfig,
                unattached: inout [MachineConfig.DriveConfig]) throws(CommandLineError) {
        let (driver, options) = OptionValues.keyValueList(value)
        switch driver {
        case "virtio-blk-pci":
            guard let id = options.first(where: { $0.key == "drive" })?.value else {
                throw CommandLineError("-device virtio-blk-pci: drive=ID is missing")
            }
            if let bad = options.first(where: { $0.key != "drive" }) {
                throw CommandLineError("-device virtio-blk-pci: unknown property '\(bad.key)'")
            }
            guard let i = unattached.firstIndex(where: { $0.id == id }) else {
                throw CommandLineError("-device virtio-blk-pci: no -drive id=\(id),if=none before it")
            }
            config.drives.append(unattached.remove(at: i))
        case "isa-debug-exit":
            var base = UInt64(0x501), size = UInt64(2)
            for (key, v) in options {
                guard key == "iobase" || key == "iosize" else {
                    throw CommandLineError("-device isa-debug-exit: unknown property '\(key)'")
                }
                guard let n = OptionValues.integer(v) else {
                    throw CommandLineError("-device isa-debug-exit: '\(key)=\(v)' is not a number")
                }
                if key == "iobase" { base = n } else { size = n }
            }
            guard size >= 1, base <= 0xFFFF, base + size <= 0x10000 else {
                throw CommandLineError("-device isa-debug-exit: iobase/iosize must lie within ports 0-0xffff")
            }
            guard config.debugExit == nil else { throw CommandLineError("-device isa-debug-exit: given twice") }
            config.debugExit = .init(base: UInt16(base), size: UInt16(size))
        case "":
            throw CommandLineError("-device: missing driver name")
        default:
            throw CommandLineError("-device '\(driver)': unknown device (supported: isa-debug-exit, virtio-blk-pci, virtio-net-pci)")
        }
    }

    /// `-cpu host[,+feat][,-feat][,feat=on|off]` (`max` is taken as `host`).
    func cpu(_ value: String) throws(CommandLineError) -> [MachineConfig.CPUFeatureChange] {
        let items = value.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard items[0] == "host" || items[0] == "max" else {
            throw CommandLineError("-cpu '\(items[0])': only 'host' (all KVM supports) is available")
        }
        var changes: [MachineConfig.CPUFeatureChange] = []
        for item in items.dropFirst() {
            var name = item
            var enabled: Bool
            if item.hasPrefix("+") || item.hasPrefix("-") {
                enabled = item.hasPrefix("+")
                name = String(item.dropFirst())
            } else if let eq = item.firstIndex(of: "=") {
                name = String(item[..<eq])
                switch item[item.index(after: eq)...] {
                case "on", "true", "yes": enabled = true
                case "off", "false", "no": enabled = false
                default: throw CommandLineError("-cpu '\(value)': '\(item)' must be on or off")
                }
            } else {
                throw CommandLineError("-cpu '\(value)': write features as +name or -name")
            }
            guard CPUIDPolicy.feature(named: name) != nil else {
                throw CommandLineError("-cpu '\(value)': unknown CPU feature '\(name)'")
            }
            changes.append(.init(name: name, enabled: enabled))
        }
        return changes
    }

    func logLevel(_ value: String) throws(CommandLineError) -> MachineConfig.LogLevel {
        guard let l = MachineConfig.LogLevel(rawValue: value) else {
            throw CommandLineError("-log-level '\(value)': use error, warning, info or debug")
        }
        return l
    }

    /// QEMU's `-d item[,item...]`: the log items we have. QEMU's TCG items
    /// (in_asm, op, exec ...) describe a translator we do not have.
    public static let logItems: [(name: String, help: String)] = [
        ("fallbacks", "each instruction the VMM completes for the host's emulator (int3 on kvm_pvm ...)"),
        ("guest_errors", "guest programming errors (always logged as warnings)"),
    ]

    func logItems(_ value: String) throws(CommandLineError) -> Set<String> {
        var items: Set<String> = []
        for item in value.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            guard CommandLineParser.logItems.contains(where: { $0.name == item }) else {
                throw CommandLineError("-d \(value): unknown logging item '\(item)' (-d help lists them)")
            }
            items.insert(item)
        }
        return items
    }

    public static var logItemsHelp: String {
        "Log items (comma separated):\n" + logItems.map { $0.name + String(repeating: " ", count: max(1, 13 - $0.name.count)) + $0.help }
            .joined(separator: "\n")
    }

    public static let usage = """
    usage: swiftvmm [options]

    Machine:
      -m SIZE              guest RAM (MiB, or with a K/M/G suffix; default 128M)
      -smp N               number of vCPUs (default 1)
      -bios FILE           flat firmware image; ends at 4 GiB, last 128 KiB also at 0xE0000
      -kernel FILE         Linux kernel: bzImage, or ELF vmlinux (PVH entry if present)
      -initrd FILE         initial ramdisk
      -append STRING       kernel command line
      -no-reboot           exit instead of resetting when the guest resets
      -S                   do not start the vCPUs (wait for a monitor)
      -cpu host[,+feat,-feat]  CPUID: what KVM supports, with features added/removed
      -name NAME           a name for the VM
    Control:
      -qmp unix:PATH,server=on,wait=off   QMP socket (also tcp:HOST:PORT; repeatable)
    Devices:
      -serial stdio|file:PATH|none   COM1 backend (default stdio; Ctrl-A x quits)
      -drive file=PATH,format=raw,if=virtio[,readonly=on][,cache=none|writeback]
                           a raw disk image as a virtio-blk PCI device
      -drive id=ID,if=none,file=PATH  +  -device virtio-blk-pci,drive=ID
      -debugcon stdio|file:PATH|none   QEMU's debug console (port 0xE9; SeaBIOS logs
                           to 0x402: -global isa-debugcon.iobase=0x402)
      -netdev tap,id=ID[,ifname=TAP][,script=no,downscript=no][,vhost=off]
      -device virtio-net-pci,netdev=ID[,mac=52:54:00:12:34:56][,id=NAME]
                           a virtio-net card on a host tap (an existing tap is
                           used as is; a missing one lives as long as the VM)
      -nic tap,ifname=TAP[,model=virtio-net-pci][,mac=MAC]   the same, in one option
      -device isa-debug-exit[,iobase=0x501][,iosize=2]
                           guest write of v exits with status (v << 1) | 1
      -nodefaults          no default devices (no serial unless -serial)
      -nographic, -display none, -enable-kvm   accepted (always so)
    SwiftVMM:
      -exit-stats          print the VMM's own time per exit at the end
      -log-level LEVEL     error, warning (default), info, debug
      -d ITEM[,ITEM]       log items (as QEMU's -d): fallbacks, guest_errors; -d help
      -qmp-max-clients N   QMP clients connected at once, over all -qmp endpoints (default 64)
      -h, -help            this text
      -version             version

    Exit status: 0 when the guest stops normally, (v << 1) | 1 from
    isa-debug-exit, 1 for a bad command line or file, 2 when the VM fails.
    """
}
