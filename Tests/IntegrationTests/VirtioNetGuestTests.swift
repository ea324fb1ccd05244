import Foundation
import Testing

/// A network namespace of the test's own with a persistent tap in it,
/// 10.77.0.1/30 on the host side (the firmware guest is 10.77.0.2), so no
/// traffic leaves it. Removed (tap and all) by `remove()`.
final class TestNetwork {
    let namespace: String
    let tap: String
    static let hostAddress = "10.77.0.1", guestAddress = "10.77.0.2"
    /// A fixed MAC for the host side, so guest reports compare across runs.
    static let hostMAC = "02:00:00:77:00:01"

    init(createTap: Bool = true) throws {
        let tag = "\(getpid() % 100_000)\(UUID().uuidString.prefix(4).lowercased())"
        namespace = "svmm-\(tag)"
        tap = "svt\(tag)"
        try Self.run(["ip", "netns", "add", namespace])
        try exec(["ip", "link", "set", "lo", "up"])
        if createTap {
            try exec(["ip", "tuntap", "add", "dev", tap, "mode", "tap"])
            try exec(["ip", "link", "set", "dev", tap, "address", Self.hostMAC])
            try exec(["ip", "addr", "add", "\(Self.hostAddress)/30", "dev", tap])
            try exec(["ip", "link", "set", "dev", tap, "up"])
        }
    }

    func remove() {
        _ = try? Self.output(["ip", "netns", "exec", namespace, "ip", "link", "del", tap])
        _ = try? Self.output(["ip", "netns", "del", namespace])
    }

    /// Runs `command` inside the namespace; throws if it fails.
    @discardableResult
    func exec(_ command: [String]) throws -> String {
        try Self.run(["ip", "netns", "exec", namespace] + command)
    }

    /// `command` inside the namespace: its status and output, failing or not.
    func attempt(_ command: [String]) throws -> (status: Int32, output: String) {
        try Self.output(["ip", "netns", "exec", namespace] + command)
    }

    /// A program started inside the namespace.
    func start(_ executable: String, _ arguments: [String]) throws -> GuestProcess {
        try GuestProcess(executable: "/usr/bin/env", arguments: ["ip", "netns", "exec", namespace, executable] + arguments)
    }

    struct CommandFailed: Error, CustomStringConvertible {
        let description: String
    }

    @discardableResult
    static func run(_ command: [String]) throws -> String {
        let (status, out) = try output(command)
        guard status == 0 else { throw CommandFailed(description: "\(command.joined(separator: " ")): \(out)") }
        return out
    }

    static func output(_ command: [String]) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = command
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// The firmware virtio-net driver on a tap: ARP and ping with the host both
/// ways, the same on swiftvmm and QEMU.
extension KVMGuests {
@Suite("virtio-net guest driver")
struct VirtioNetGuestTests {
    static let guestMAC = "52:54:00:ab:cd:ef"

    struct Conversation {
        var report: String
        var status: Int32?
        var ping: (status: Int32, output: String)
        var neighbours: String
        /// What the host's UDP socket on 10.77.0.1:7777 received from the guest.
        var udpFromGuest: String
    }

    /// Runs the driver test with `vmm` in `network`: listens for its UDP
    /// datagram, waits until it serves, makes the host forget the guest's MAC
    /// (so the host has to ARP), sends it a UDP datagram, pings it three times.
    func converse(_ network: TestNetwork, executable: String, arguments: [String]) throws -> Conversation {
        let listener = try network.start("python3", ["-c", """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("\(TestNetwork.hostAddress)", 7777))
            print("listening", flush=True)
            s.settimeout(20)
            print(s.recvfrom(2048)[0].decode(errors="replace"), flush=True)
            """])
        #expect(listener.expect("listening\n", timeout: 10))
        let vm = try network.start(executable, arguments)
        guard vm.expect("virtio-net-test: serving", timeout: 60) else {
            _ = vm.waitForExit(timeout: 1)
            Issue.record("the guest did not start serving: \(vm.stdout) \(vm.stderr)")
            return Conversation(report: vm.stdout, status: nil, ping: (-1, ""), neighbours: "", udpFromGuest: "")
        }
        try network.exec(["ip", "neigh", "flush", "dev", network.tap])
        try network.exec(["python3", "-c", """
            import socket
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"to-the-guest", ("\(TestNetwork.guestAddress)", 7778))
            """])
        // Two pings, the neighbour table (while the guest still serves: it
        // ends after the third ping, and a tap without its reader loses
        // carrier and its neighbours), the third ping.
        let first = try network.attempt(["ping", "-c", "2", "-i", "0.2", "-W", "5", TestNetwork.guestAddress])
        let neighbours = try network.exec(["ip", "neigh", "show", "dev", network.tap])
        let last = try network.attempt(["ping", "-c", "1", "-W", "5", TestNetwork.guestAddress])
        let ping = (first.status | last.status, first.output + last.output)
        let status = vm.waitForExit(timeout: 60)
        _ = listener.waitForExit(timeout: 30)
        let udp = listener.stdout.replacingOccurrences(of: "listening\n", with: "")
        return Conversation(report: vm.stdout.replacingOccurrences(of: "\r\n", with: "\n"), status: status, ping: ping,
                            neighbours: neighbours, udpFromGuest: udp)
    }

    static let passLine = "virtio-net-test: done pass=13 fail=0"

    func swiftvmmArguments(_ network: TestNetwork, firmware: String = "virtio-net-test.bin") -> [String] {
        ["-bios", TestEnvironment.firmware(firmware), "-display", "none", "-no-reboot",
         "-netdev", "tap,id=n0,ifname=\(network.tap),script=no,downscript=no,vhost=off",
         "-device", "virtio-net-pci,netdev=n0,mac=\(Self.guestMAC)"] + debugExitAtF4
    }

    @Test("swiftvmm: the guest ARPs and pings the host, and answers the host's ARP and ping; the tap stays")
    func swiftvmm() throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let r = try converse(network, executable: TestEnvironment.swiftvmm, arguments: swiftvmmArguments(network))
        #expect(r.ping.status == 0, "\(r.ping.output)")
        #expect(r.ping.output.contains("2 received") && r.ping.output.contains("1 received"))
        #expect(r.report.contains("virtio-net-test: mac \(Self.guestMAC)"))
        #expect(r.report.contains("virtio-net-test: host MAC \(TestNetwork.hostMAC)"))
        #expect(r.report.contains("host UDP checksummed by the host (flags 0, checksum valid) ok"))
        #expect(r.report.contains(Self.passLine), "\(r.report)")
        #expect(r.status == 1)
        #expect(r.udpFromGuest == "swiftvmm-udp-to-host\n")
        // The host learnt the guest's MAC from the guest's ARP answer.
        #expect(r.neighbours.contains("\(TestNetwork.guestAddress) lladdr \(Self.guestMAC)"), "\(r.neighbours)")
        // A persistent tap is the user's: still there after the VM.
        #expect(try network.attempt(["ip", "link", "show", network.tap]).status == 0)
    }

    @Test("checksum offloads negotiated: the tap hands the guest NEEDS_CSUM frames, and takes the guest's")
    func checksumOffloads() throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let r = try converse(network, executable: TestEnvironment.swiftvmm,
                             arguments: swiftvmmArguments(network, firmware: "virtio-net-offload.bin"))
        #expect(r.report.contains("checksum offloads offered (CSUM, GUEST_CSUM) ok"))
        #expect(r.report.contains("host UDP left to the guest to checksum (NEEDS_CSUM) ok"), "\(r.report)")
        #expect(r.report.contains("virtio-net-test: done pass=14 fail=0"))
        #expect(r.udpFromGuest == "swiftvmm-udp-to-host\n")  // the partial checksum was accepted
    }

    @Test("QEMU with the same tap set-up: the same report, offloads or not", arguments: ["virtio-net-test.bin", "virtio-net-offload.bin"])
    func qemuAgrees(firmware: String) throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let q = try converse(network, executable: TestEnvironment.qemu, arguments: [
            "-enable-kvm", "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
            "-bios", TestEnvironment.firmware(firmware),
            "-netdev", "tap,id=n0,ifname=\(network.tap),script=no,downscript=no,vhost=off",
            // romfile=: no option ROM (the firmware drives the card itself).
            "-device", "virtio-net-pci,netdev=n0,mac=\(Self.guestMAC),romfile="] + debugExitAtF4)
        #expect(q.ping.status == 0, "\(q.ping.output)")
        #expect(q.status == 1)
        let s = try converse(network, executable: TestEnvironment.swiftvmm,
                             arguments: swiftvmmArguments(network, firmware: firmware))
        #expect(s.status == 1)
        #expect(q.report == s.report, "QEMU:\n\(q.report)\nswiftvmm:\n\(s.report)")
        #expect(q.report.contains("fail=0\n") && q.udpFromGuest == s.udpFromGuest)
    }

    @Test("a missing tap is created for the VM's life and goes with it")
    func tapCreatedAndRemoved() throws {
        let network = try TestNetwork(createTap: false)
        defer { network.remove() }
        let vm = try network.start(TestEnvironment.swiftvmm, [
            "-bios", TestEnvironment.firmware("virtio-net-test.bin"), "-display", "none", "-no-reboot",
            "-nic", "tap,ifname=\(network.tap),model=virtio-net-pci"] + debugExitAtF4)
        #expect(vm.expect("virtio-net-test: DRIVER_OK ok", timeout: 30))
        #expect(try network.attempt(["ip", "link", "show", network.tap]).status == 0)
        // Nobody answers on a tap that is down: the guest gives up on ARP and reports it.
        let status = vm.waitForExit(timeout: 60)
        #expect(vm.stdout.contains("virtio-net-test: ARP reply from the host FAIL"))
        #expect(status == 3)  // isa-debug-exit: 1 failure
        #expect(try network.attempt(["ip", "link", "show", network.tap]).status != 0)
    }

    @Test("bad taps: one line each, status 1")
    func badTaps() throws {
        let network = try TestNetwork(createTap: false)
        defer { network.remove() }
        let firmware = TestEnvironment.firmware("virtio-net-test.bin")
        let lo = try network.start(TestEnvironment.swiftvmm, ["-bios", firmware, "-nic", "tap,ifname=lo"])
        #expect(lo.waitForExit(timeout: 30) == 1)
        #expect(lo.stderr == "swiftvmm: network card virtio-net-pci.0: cannot attach to tap 'lo': Invalid argument (is 'lo' a tap? it may be a tun or another kind of interface)\n")
        // A tap another VMM holds (not multi-queue) is busy.
        try network.exec(["ip", "tuntap", "add", "dev", network.tap, "mode", "tap"])
        let first = try network.start(TestEnvironment.swiftvmm, ["-bios", firmware, "-nic", "tap,ifname=\(network.tap)"] + debugExitAtF4)
        #expect(first.expect("virtio-net-test: DRIVER_OK ok", timeout: 30))
        let second = try network.start(TestEnvironment.swiftvmm, ["-bios", firmware, "-nic", "tap,ifname=\(network.tap)"])
        #expect(second.waitForExit(timeout: 30) == 1)
        #expect(second.stderr.contains("cannot attach to tap '\(network.tap)': Device or resource busy"), "\(second.stderr)")
        first.signal(SIGTERM)
        _ = first.waitForExit(timeout: 30)
    }
}
}
