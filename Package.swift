// swift-tools-version:6.0
// SwiftVMM: a KVM-backed virtual machine monitor. No package dependencies:
// see README.md, "Dependencies", for why.
import PackageDescription

let package = Package(
    name: "SwiftVMM",
    products: [
        .executable(name: "swiftvmm", targets: ["swiftvmm"]),
    ],
    targets: [
        // The only C: <linux/kvm.h> and ioctl shims.
        .target(name: "CKVM"),
        // Headers only: epoll, eventfd, signalfd, prctl (not in Glibc's module).
        .systemLibrary(name: "CLinuxHost"),
        // Typed Swift face of /dev/kvm. No device logic.
        .target(name: "KVM", dependencies: ["CKVM"]),
        // Bounds-checked guest memory, port/MMIO buses, the IRQ line protocol.
        .target(name: "Memory", dependencies: []),
        // Device models: pure state machines, no KVM.
        .target(name: "Devices", dependencies: ["Memory", "CLinuxHost"]),
        // Firmware loading and the CPU reset state.
        .target(name: "Boot", dependencies: ["Memory"]),
        // Assembles KVM + memory + devices + vCPU threads.
        .target(name: "Machine", dependencies: ["KVM", "Memory", "Devices", "Boot", "CKVM", "CLinuxHost"]),
        // QMP: JSON stream, sessions, commands, events, sockets.
        .target(name: "Control", dependencies: ["Machine", "Memory", "CLinuxHost"]),
        // QEMU-grammar command line -> MachineConfig.
        .target(name: "CommandLineOptions", dependencies: ["Machine", "Control"]),
        .executableTarget(name: "swiftvmm", dependencies: ["CommandLineOptions", "Machine", "Control"]),
        // `make bench`: the exit path's own cost, fed synthetic exits.
        // `make fuzz`: libFuzzer targets for every parser of outside input;
        // built normally it replays inputs (Fuzz/corpus) once each.
        .executableTarget(name: "swiftvmm-fuzz", dependencies: ["Control", "CommandLineOptions", "Boot", "Devices", "Memory"],
                          path: "Fuzz/Harness"),
        .executableTarget(name: "ExitPathBench", dependencies: ["Machine", "KVM", "Memory", "Devices", "CKVM"],
                          path: "Benchmarks/ExitPathBench"),

        .testTarget(name: "KVMTests", dependencies: ["KVM", "CLinuxHost"]),
        .testTarget(name: "MemoryTests", dependencies: ["Memory"]),
        .testTarget(name: "DevicesTests", dependencies: ["Devices", "Memory"]),
        .testTarget(name: "BootTests", dependencies: ["Boot", "Memory"]),
        .testTarget(name: "MachineTests", dependencies: ["Machine", "KVM", "Memory", "Devices"]),
        .testTarget(name: "CommandLineOptionsTests", dependencies: ["CommandLineOptions", "Machine", "Control"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "Machine"]),
        .testTarget(name: "IntegrationTests", dependencies: []),
    ]
)
