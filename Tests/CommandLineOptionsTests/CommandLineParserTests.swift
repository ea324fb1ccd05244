@testable import CommandLineOptions
import Control
import Machine
import Testing

let sizeCases: [(String, UInt64)] = [
    ("64", 64 << 20), ("2G", 2 << 30), ("2g", 2 << 30), ("4096K", 4 << 20),
    ("size=1G", 1 << 30), ("1T", 1 << 40), ("3145728k", 3 << 30),
]

@Suite("Command line")
struct CommandLineParserTests {
    func config(_ args: [String]) throws -> MachineConfig {
        guard case .run(let c, _) = try CommandLineParser().parse(args) else {
            Issue.record("expected a run command")
            return MachineConfig()
        }
        return c
    }

    func error(_ args: [String]) -> String? {
        do {
            _ = try CommandLineParser().parse(args)
            return nil
        } catch {
            return error.message
        }
    }

    @Test("-d: QEMU's log-item list; fallbacks logs each emulation fallback; help lists; unknown items refused")
    func logItems() throws {
        #expect(try config(["-bios", "x", "-d", "fallbacks"]).logFallbacks)
        #expect(try config(["-bios", "x", "-d", "guest_errors,fallbacks"]).logFallbacks)
        #expect(try !config(["-bios", "x", "-d", "guest_errors"]).logFallbacks)
        #expect(try CommandLineParser().parse(["-d", "help"]) == .logItemsHelp)
        #expect(CommandLineParser.logItemsHelp.contains("fallbacks"))
        #expect(error(["-d", "in_asm"]) == "-d in_asm: unknown logging item 'in_asm' (-d help lists them)")
    }

    @Test("ids: QEMU's identifier rule, and unique per kind (drive, netdev, device)")
    func ids() {
        #expect(error(["-drive", "file=a,if=none,id=d0", "-drive", "file=b,if=virtio,id=d0"]) == "Duplicate ID 'd0' for drive")
        #expect(error(["-drive", "file=a,if=virtio,id="])?.hasPrefix("-drive: Parameter 'id' expects an identifier") == true)
        #expect(error(["-drive", "file=a,if=virtio,id=0abc"])?.hasPrefix("-drive: Parameter 'id' expects an identifier") == true)
        #expect(error(["-netdev", "tap,id=n 1"])?.hasPrefix("-netdev: Parameter 'id' expects an identifier") == true)
        #expect(error(["-nic", "tap,id=c", "-nic", "tap,id=c"]) == "Duplicate ID 'c' for device")
        #expect(error(["-drive", "file=a,if=virtio,id=a-b.c_d"]) == nil)
        // Kinds are separate namespaces, as in QEMU.
        #expect(error(["-drive", "file=a,if=virtio,id=x", "-nic", "tap,id=x"]) == nil)
    }

    @Test("-qmp-max-clients: 1 to 4096, default 64")
    func qmpClientLimit() throws {
        #expect(try config(["-bios", "x"]).qmpClientLimit == 64)
        #expect(try config(["-bios", "x", "-qmp-max-clients", "3"]).qmpClientLimit == 3)
        #expect(error(["-qmp-max-clients", "0"]) == "-qmp-max-clients '0': expected a number from 1 to 4096")
    }

    @Test("defaults: 128 MiB, one vCPU, serial on stdio")
    func defaults() throws {
        let c = try config([])
        #expect(c.ramSize == 128 << 20)
        #expect(c.vcpuCount == 1)
        #expect(c.serial == .stdio)
        #expect(c.debugExit == nil)
    }

    @Test("QEMU's test line parses, single and double dash alike")
    func qemuLine() throws {
        for dash in ["-", "--"] {
            let c = try config([dash + "bios", "f.bin", dash + "device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                dash + "nographic", dash + "enable-kvm", dash + "no-reboot", dash + "m", "512",
                                dash + "smp", "2", dash + "name", "vm1", dash + "display", "none"])
            #expect(c.firmwarePath == "f.bin")
            #expect(c.debugExit == .init(base: 0xF4, size: 4))
            #expect(c.noReboot)
            #expect(c.ramSize == 512 << 20)
            #expect(c.vcpuCount == 2)
            #expect(c.name == "vm1")
        }
    }

    @Test("memory sizes: MiB by default, K/M/G/T suffixes, size= prefix",
          arguments: sizeCases)
    func sizes(text: String, bytes: UInt64) throws {
        #expect(try config(["-m", text]).ramSize == bytes)
    }

    @Test("bad memory sizes", arguments: ["0", "1M", "2T", "99999999999999999999", "12Q", "", "-5", "1.5G",
                                         "1G,slots=2", "4097K"])
    func badSizes(text: String) {
        #expect(error(["-m", text])?.hasPrefix("-m '\(text)'") == true)
    }

    @Test("-smp forms", arguments: [("4", 4), ("cpus=3", 3), ("1", 1)])
    func smp(text: String, n: Int) throws {
        #expect(try config(["-smp", text]).vcpuCount == n)
    }

    @Test("bad -smp", arguments: ["0", "256", "x", "2,sockets=2"])
    func badSMP(text: String) {
        #expect(error(["-smp", text])?.hasPrefix("-smp '\(text)'") == true)
    }

    @Test("serial backends and -nodefaults")
    func serial() throws {
        #expect(try config(["-serial", "file:/tmp/x"]).serial == .file("/tmp/x"))
        #expect(try config(["-serial", "none"]).serial == .none)
        #expect(try config(["-serial", "null"]).serial == .none)
        #expect(try config(["-serial", "mon:stdio"]).serial == .stdio)
        #expect(try config(["-nodefaults"]).serial == .none)
        #expect(try config(["-nodefaults", "-serial", "stdio"]).serial == .stdio)
        #expect(error(["-serial", "pty"]) != nil)
        #expect(error(["-serial", "file:"]) != nil)
        #expect(error(["-serial", "stdio", "-serial", "stdio"]) == "-serial: only one serial port (COM1) is supported")
    }

    @Test("isa-debug-exit defaults are QEMU's 0x501/2; bad properties are named")
    func debugExit() throws {
        #expect(try config(["-device", "isa-debug-exit"]).debugExit == .init(base: 0x501, size: 2))
        #expect(try config(["-device", "isa-debug-exit,iobase=244,iosize=1"]).debugExit == .init(base: 0xF4, size: 1))
        #expect(error(["-device", "isa-debug-exit,iobase=zz"]) == "-device isa-debug-exit: 'iobase=zz' is not a number")
        #expect(error(["-device", "isa-debug-exit,colour=red"]) == "-device isa-debug-exit: unknown property 'colour'")
        #expect(error(["-device", "isa-debug-exit,iosize=0"]) != nil)
        #expect(error(["-device", "isa-debug-exit", "-device", "isa-debug-exit"]) != nil)
        #expect(error(["-device", "e1000"]) == "-device 'e1000': unknown device (supported: isa-debug-exit, virtio-blk-pci, virtio-net-pci)")
    }

    @Test("kernel options are parsed (the loader refuses them later)")
    func kernelOptions() throws {
        let c = try config(["-kernel", "bzImage", "-initrd", "initrd.img", "-append", "console=ttyS0"])
        #expect(c.kernelPath == "bzImage")
        #expect(c.initrdPath == "initrd.img")
        #expect(c.kernelCommandLine == "console=ttyS0")
    }

    @Test("unknown options, stray arguments and missing values are named")
    func mistakes() {
        #expect(error(["-frob"]) == "unknown option '-frob' (see -help)")
        #expect(error(["disk.img"]) == "unexpected argument 'disk.img' (options start with '-'; see -help)")
        #expect(error(["-m"]) == "option '-m' needs a value")
        #expect(error(["-"]) != nil)
        #expect(error(["-log-level", "loud"]) == "-log-level 'loud': use error, warning, info or debug")
    }

    @Test("-qmp endpoints, repeatable; bad ones are one line naming the value")
    func qmp() throws {
        let command = try CommandLineParser().parse(["-qmp", "unix:/tmp/a.sock,server=on,wait=off",
                                                     "-qmp", "tcp:127.0.0.1:4444,server,nowait"])
        guard case .run(_, let qmp) = command else {
            Issue.record("expected run")
            return
        }
        #expect(qmp.map(\.address) == [.unix(path: "/tmp/a.sock"), .tcp(host: "127.0.0.1", port: 4444)])
        #expect(error(["-qmp", "unix:/tmp/a.sock"]) == "-qmp 'unix:/tmp/a.sock': only server mode is supported (add server=on,wait=off)")
    }

    @Test("-cpu host with features added and removed; unknown ones named")
    func cpu() throws {
        let c = try config(["-cpu", "host,-cx16,-xsave,+x2apic,avx=off"])
        #expect(c.cpuFeatureChanges == [.init(name: "cx16", enabled: false), .init(name: "xsave", enabled: false),
                                        .init(name: "x2apic", enabled: true), .init(name: "avx", enabled: false)])
        #expect(try config(["-cpu", "max"]).cpuFeatureChanges.isEmpty)
        #expect(error(["-cpu", "qemu64"]) == "-cpu 'qemu64': only 'host' (all KVM supports) is available")
        #expect(error(["-cpu", "host,-warp"]) == "-cpu 'host,-warp': unknown CPU feature 'warp'")
        #expect(error(["-cpu", "host,avx"]) != nil)
    }

    @Test("-drive: if=virtio attaches; if=none waits for -device virtio-blk-pci,drive=ID")
    func drives() throws {
        let c = try config(["-drive", "file=/tmp/a.img,format=raw,if=virtio,readonly=on,cache=none",
                            "-drive", "id=d1,if=none,file=/tmp/b.img", "-device", "virtio-blk-pci,drive=d1"])
        #expect(c.drives == [.init(path: "/tmp/a.img", readOnly: true, format: "raw"),
                             .init(path: "/tmp/b.img", readOnly: false, id: "d1")])  // no format=: probed
        #expect(error(["-drive", "file=/tmp/a.img"]) == "-drive 'file=/tmp/a.img': add if=virtio (there is no IDE controller)")
        #expect(error(["-drive", "file=/tmp/a.img,if=virtio,format=qcow2"]) == "-drive: format=qcow2 is not supported (raw only)")
        #expect(error(["-drive", "if=virtio"]) != nil)
        #expect(error(["-device", "virtio-blk-pci,drive=nope"]) == "-device virtio-blk-pci: no -drive id=nope,if=none before it")
        #expect(error(["-drive", "file=x,if=none"]) != nil)
    }

    @Test("-debugcon and -global isa-debugcon.iobase")
    func debugcon() throws {
        let c = try config(["-debugcon", "file:/tmp/log", "-global", "isa-debugcon.iobase=0x402"])
        #expect(c.debugConsole == .file("/tmp/log"))
        #expect(c.debugConsolePort == 0x402)
        #expect(error(["-global", "e1000.mac=1"]) == "-global 'e1000.mac=1': only isa-debugcon.iobase=PORT is supported")
    }

    @Test("help, version, flags")
    func flags() throws {
        #expect(try CommandLineParser().parse(["-h"]) == .help)
        #expect(try CommandLineParser().parse(["--help"]) == .help)
        #expect(try CommandLineParser().parse(["-version"]) == .version)
        let c = try config(["-S", "-exit-stats", "-log-level", "debug"])
        #expect(c.startPaused && c.exitStats && c.logLevel == .debug)
    }

    @Test("-netdev tap + -device virtio-net-pci (either order), -nic tap; QEMU's default MACs and names")
    func network() throws {
        let c = try config(["-device", "virtio-net-pci,netdev=n0,mac=52:54:00:aa:bb:cc,id=card",
                            "-netdev", "tap,id=n0,ifname=svt0,script=no,downscript=no,vhost=off",
                            "-nic", "tap,ifname=svt1,model=virtio-net-pci"])
        #expect(c.nics == [.init(id: "card", tapName: "svt0", mac: [0x52, 0x54, 0, 0xAA, 0xBB, 0xCC]),
                           .init(id: "virtio-net-pci.1", tapName: "svt1", mac: [0x52, 0x54, 0, 0x12, 0x34, 0x57])])
        #expect(c.nics[1].macText == "52:54:00:12:34:57")
        #expect(try config(["-nic", "tap"]).nics == [.init(id: "virtio-net-pci.0", tapName: nil,
                                                             mac: [0x52, 0x54, 0, 0x12, 0x34, 0x56])])
        #expect(try config(["-nic", "none"]).nics.isEmpty)
    }

    @Test("network refusals: one line each, naming what is wrong")
    func networkErrors() {
        #expect(error(["-netdev", "tap,id=n0,ifname=t,script=/etc/qemu-ifup", "-device", "virtio-net-pci,netdev=n0"])
            == "-netdev tap: script=/etc/qemu-ifup is not supported (only script=no: configure the tap before starting)")
        #expect(error(["-netdev", "tap,id=n0,vhost=on"])?.contains("vhost=on is not supported") == true)
        #expect(error(["-netdev", "user,id=n0"]) == "-netdev user: not supported (there is no user-mode network stack; use tap)")
        #expect(error(["-netdev", "tap,ifname=t"]) == "-netdev 'tap,ifname=t': id=ID is missing")
        #expect(error(["-netdev", "tap,id=a", "-netdev", "tap,id=a"]) == "Duplicate ID 'a' for netdev")
        #expect(error(["-netdev", "tap,id=a"]) == "-netdev id=a is not used by any -device virtio-net-pci,netdev=a")
        #expect(error(["-device", "virtio-net-pci,netdev=x"]) == "-device virtio-net-pci: no -netdev with id=x")
        #expect(error(["-device", "virtio-net-pci"]) == "-device virtio-net-pci: netdev=ID is missing")
        #expect(error(["-netdev", "tap,id=a", "-device", "virtio-net-pci,netdev=a", "-device", "virtio-net-pci,netdev=a"])
            == "-device virtio-net-pci: netdev 'a' is already used by another card")
        #expect(error(["-nic", "tap,model=e1000"]) == "-nic: model=e1000 is not supported (virtio-net-pci only)")
        #expect(error(["-nic", "tap,mac=52:54:00:12:34"]) == "mac=52:54:00:12:34: expected six hex bytes like 52:54:00:12:34:56")
        #expect(error(["-nic", "tap,mac=01:00:5e:00:00:01"]) == "mac=01:00:5e:00:00:01: a multicast address cannot be a card's address")
        #expect(error(["-nic", "tap,mac=52:54:00:12:34:+5"]) != nil)
        #expect(error(["-nic", "tap,mac=52:54:00:12:34:56", "-nic", "tap,mac=52:54:00:12:34:56"])
            == "two network cards with the MAC address 52:54:00:12:34:56")
        #expect(error(["-device", "virtio-net-pci,netdev=a,speed=10", "-netdev", "tap,id=a"])
            == "-device virtio-net-pci: unknown property 'speed'")
    }
}
