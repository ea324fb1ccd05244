/// Everything needed to build a machine, as the command line (or a test)
/// describes it. Plain values, validated by the CLI parser and again by the
/// builder where the host has a say (files, memory).
public struct MachineConfig: Sendable, Equatable {
    public enum SerialBackend: Sendable, Equatable {
        case stdio
        case file(String)
        case none
    }

    public struct DebugExitConfig: Sendable, Equatable {
        public var base: UInt16
        public var size: UInt16
        public init(base: UInt16, size: UInt16) {
            self.base = base
            self.size = size
        }
    }

    /// Guest RAM in bytes (QEMU's default is 128 MiB).
    public var ramSize: UInt64 = 128 << 20
    public var vcpuCount: Int = 1
    public var firmwarePath: String?
    public var kernelPath: String?
    public var initrdPath: String?
    public var kernelCommandLine: String?
    public var serial: SerialBackend = .stdio
    public var debugExit: DebugExitConfig?
    /// `-no-reboot`: a guest reset (triple fault) ends the VMM instead.
    public var noReboot = false
    /// `-S`: do not start the vCPUs until told to.
    public var startPaused = false
    public var name: String?
    /// Count the VMM's own time per exit and print it at the end.
    public var exitStats = false
    public var kvmDevicePath = "/dev/kvm"
    public var logLevel: LogLevel = .warning
    /// `-d fallbacks`: log every instruction the VMM completes for the host's emulator.
    public var logFallbacks = false
    /// Most QMP clients connected at once, over all endpoints (`-qmp-max-clients`).
    public var qmpClientLimit = 64
    /// What this host's KVM cannot do (detected; tests may set it).
    public var hostQuirks = HostQuirks.detect()
    /// `-debugcon`: QEMU's debug console port and where its bytes go.
    public var debugConsole: SerialBackend?
    public var debugConsolePort: UInt16 = 0xE9

    /// Disk images (`-drive`), each a virtio-blk device on PCI.
    public var drives: [DriveConfig] = []

    public struct DriveConfig: Sendable, Equatable {
        public var path: String
        public var readOnly: Bool
        public var id: String?
        /// `format=`; nil: probed from the image's header, as QEMU does.
        public var format: String?
        /// `file.locking=off`: no image locks (QEMU's option).
        public var locking: Bool
        public init(path: String, readOnly: Bool, id: String? = nil, format: String? = nil, locking: Bool = true) {
            self.path = path
            self.readOnly = readOnly
            self.id = id
            self.format = format
            self.locking = locking
        }
    }

    /// Network cards (`-netdev tap` + `-device virtio-net-pci`, or `-nic`),
    /// each a virtio-net device on PCI with a tap backend.
    public var nics: [NICConfig] = []

    public struct NICConfig: Sendable, Equatable {
        /// The device's name for monitors (QEMU: the -device id, else the netdev id).
        public var id: String
        /// The host tap interface; nil lets the kernel pick one (tap0, tap1, ...).
        public var tapName: String?
        public var mac: [UInt8]
        public init(id: String, tapName: String?, mac: [UInt8]) {
            self.id = id
            self.tapName = tapName
            self.mac = mac
        }

        /// QEMU's default: 52:54:00:12:34:56, the last byte counting up per card.
        public static func defaultMAC(index: Int) -> [UInt8] {
            [0x52, 0x54, 0x00, 0x12, 0x34, UInt8(truncatingIfNeeded: 0x56 + index)]
        }

        public var macText: String {
            mac.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }
                .joined(separator: ":")
        }
    }

    /// `-cpu host,+name,-name`: CPUID feature bits to set or clear.
    public var cpuFeatureChanges: [CPUFeatureChange] = []

    public struct CPUFeatureChange: Sendable, Equatable {
        public var name: String
        public var enabled: Bool
        public init(name: String, enabled: Bool) {
            self.name = name
            self.enabled = enabled
        }
    }

    public enum LogLevel: String, Sendable, Equatable {
        case error, warning, info, debug
    }

    public init() {}

    public static let minimumRAM: UInt64 = 2 << 20
    public static let maximumRAM: UInt64 = 1 << 40
    public static let maximumVCPUs = 255
}
