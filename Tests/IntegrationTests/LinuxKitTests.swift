import Foundation
import Testing

/// Linux's own drivers as the judges of our devices: the kit kernel
/// (`make linux-guest`: linux-source-6.1, tinyconfig + Firmware/linux/kit.config)
/// on swiftvmm with only the command line a user would write. The VMM adds
/// what this host needs (HostQuirks) by itself. On kvm_pvm guest userspace
/// cannot run (docs/linux-guest.md), so the kernel is checked up to
/// `Run /sbin/init`, and its panic when init dies (panic=-1) is the reset
/// that ends the VMM under -no-reboot.
extension KVMGuests {
@Suite("Linux kit kernel")
struct LinuxKitTests {
    func requireKit(_ file: String) throws -> String {
        try TestEnvironment.requireBuilt("linux", file, target: "linux-guest")
    }

    /// A fresh copy of the kit's root file system, removed by the caller.
    func rootCopy() throws -> String {
        let path = TestEnvironment.temporaryPath("rootfs.ext4")
        try FileManager.default.copyItem(atPath: try requireKit("rootfs.ext4"), toPath: path)
        return path
    }

    /// Lines no boot of ours may show: each was a gap in our firmware tables.
    static let tableComplaints = ["buggy MP table", "No PS/2 controller", "no PNP device", "pci=noacpi",
                                  "can't find IRQ", "BIOS bug"]

    /// Runs `e2fsck -fn` and reads the superblock's mount count.
    func checkFileSystem(_ image: String) throws -> (fsckStatus: Int32, fsck: String, mountCount: Int?) {
        let fsck = try TestNetwork.output(["e2fsck", "-fn", image])
        let (_, header) = try TestNetwork.output(["dumpe2fs", "-h", image])
        let count = header.split(separator: "\n").first { $0.hasPrefix("Mount count:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) }
        return (fsck.0, fsck.1, count)
    }

    /// What a boot must show once the kernel reaches init: Linux's virtio
    /// driver found our disk through ACPI, mounted it and started init.
    func expectRootMounted(_ vm: GuestProcess, started: Date, label: String) {
        #expect(vm.expect("PCI: Using host bridge windows from ACPI", timeout: 60), "\(label): \(vm.stdout.suffix(2000))")
        #expect(vm.expect("pci 0000:00:01.0: [1af4:1042]", timeout: 60))
        #expect(vm.expect("virtio_blk virtio0: [vda]", timeout: 90), "\(label): \(vm.stdout.suffix(2000))")
        #expect(vm.expect("VFS: Mounted root (ext4 filesystem)", timeout: 60))
        #expect(vm.expect("Run /sbin/init as init process", timeout: 60), "\(label): \(vm.stdout.suffix(2000))")
        print("\(label): exec to `Run /sbin/init` in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
    }

    /// How the run ends: on kvm_pvm init dies at its first syscall, the
    /// kernel panics and panic=-1 resets, which -no-reboot turns into a
    /// clean exit; elsewhere the kit's init powers off. Status 0 either way.
    func expectCleanEnd(_ vm: GuestProcess, label: String) {
        let status = vm.waitForExit(timeout: 120)
        if TestEnvironment.hostIsPVM {
            #expect(vm.stdout.contains("Attempted to kill init!"), "\(label): \(vm.stdout.suffix(1500))")
            #expect(vm.stderr.contains("guest reset with -no-reboot"), "\(label): \(vm.stderr)")
        } else {
            #expect(vm.stdout.contains("swiftvmm-kit: userspace ok"), "\(label): \(vm.stdout.suffix(1500))")
        }
        #expect(status == 0, "\(label): status \(String(describing: status)); \(vm.stderr)")
    }

    @Test("vmlinux (PVH) on an ext4 root: virtio_blk finds [vda], ext4 mounts it rw, Run /sbin/init; the disk is written and fsck-clean",
          .timeLimit(.minutes(5)))
    func rootDisk() throws {
        let root = try rootCopy()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = try checkFileSystem(root)
        let started = Date()
        let vm = try GuestProcess(executable: TestEnvironment.swiftvmm, arguments: [
            "-kernel", try requireKit("vmlinux"), "-append", "console=ttyS0 root=/dev/vda rw panic=-1",
            "-m", "256M", "-no-reboot", "-nographic", "-drive", "file=\(root),format=raw,if=virtio"])
        defer { vm.signal(SIGKILL) }
        expectRootMounted(vm, started: started, label: "vmlinux")
        expectCleanEnd(vm, label: "vmlinux")
        let out = vm.stdout
        for complaint in Self.tableComplaints { #expect(!out.contains(complaint), "\(complaint)") }
        // The PNP nodes of our DSDT reached their drivers.
        #expect(out.contains("00:00: ttyS0 at I/O 0x3f8 (irq = 4"))
        #expect(out.contains("rtc_cmos 00:01: registered as rtc0"))
        #expect(out.contains("i8042: PNP: PS/2 Controller [PNP0303:KBD,PNP0f13:MOU] at 0x60,0x64 irq 1,12"))
        if TestEnvironment.hostIsPVM {
            #expect(vm.stderr.contains("kernel command line += noxsave clearcpuid=popcnt"))
        }
        // The kernel's own writes reached the image: the mount count went up,
        // and the file system is consistent.
        let after = try checkFileSystem(root)
        #expect(before.mountCount == 0)
        #expect((after.mountCount ?? 0) > (before.mountCount ?? 0), "mount count \(String(describing: after.mountCount))")
        #expect(after.fsckStatus == 0, "\(after.fsck)")
    }

    @Test("bzImage with ip=dhcp and netconsole: virtio_net gets a lease from dnsmasq in a test netns, the kernel log arrives over UDP",
          .timeLimit(.minutes(5)))
    func network() throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let root = try rootCopy()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let leases = TestEnvironment.temporaryPath("leases")
        defer { try? FileManager.default.removeItem(atPath: leases) }
        // dnsmasq as the DHCP server on the tap, inside the namespace, with
        // one address to give; no DNS (port 0), nothing read from the host.
        let dnsmasq = try network.start("dnsmasq", [
            "--no-daemon", "--conf-file=/dev/null", "--port=0", "--no-resolv", "--no-hosts",
            "--interface=\(network.tap)", "--bind-interfaces", "--except-interface=lo",
            "--dhcp-range=\(TestNetwork.guestAddress),\(TestNetwork.guestAddress),255.255.255.252,10m",
            "--dhcp-leasefile=\(leases)", "--log-dhcp"])
        defer { dnsmasq.signal(SIGTERM); _ = dnsmasq.waitForExit(timeout: 5) }
        // The netconsole listener: bounded in time, stops at init.
        let listener = try network.start("python3", ["-u", "-c", """
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("\(TestNetwork.hostAddress)", 6666))
            print("listening", flush=True)
            s.settimeout(5)
            end = time.time() + 240
            while time.time() < end:
                try:
                    data = s.recv(4096).decode(errors="replace")
                except socket.timeout:
                    continue
                print(data, end="", flush=True)
                if "Run /sbin/init" in data:
                    break
            """])
        defer { listener.signal(SIGKILL) }
        #expect(listener.expect("listening", timeout: 10))
        let cmdline = "console=ttyS0 root=/dev/vda rw panic=-1 ip=dhcp "
            + "netconsole=6665@\(TestNetwork.guestAddress)/eth0,6666@\(TestNetwork.hostAddress)/"
        let started = Date()
        let vm = try network.start(TestEnvironment.swiftvmm, [
            "-kernel", try requireKit("bzImage"), "-append", cmdline, "-m", "256M", "-no-reboot", "-nographic",
            "-drive", "file=\(root),format=raw,if=virtio",
            "-netdev", "tap,id=n0,ifname=\(network.tap),script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0"])
        defer { vm.signal(SIGKILL) }
        #expect(vm.expect("netconsole: network logging started", timeout: 120), "\(vm.stdout.suffix(2000))")
        #expect(vm.expect("IP-Config: Got DHCP answer from \(TestNetwork.hostAddress), my address is \(TestNetwork.guestAddress)",
                          timeout: 60), "\(vm.stdout.suffix(2000)) dnsmasq: \(dnsmasq.stderr)")
        expectRootMounted(vm, started: started, label: "bzImage + network")
        expectCleanEnd(vm, label: "bzImage + network")
        _ = listener.waitForExit(timeout: 20)
        let received = listener.stdout
        #expect(received.contains("VFS: Mounted root (ext4 filesystem)"), "netconsole got: \(received.suffix(500))")
        #expect(received.contains("Run /sbin/init"))
        print("netconsole: \(received.utf8.count) bytes of kernel log received in the test namespace")
        #expect(dnsmasq.stderr.contains("DHCPACK(\(network.tap)) \(TestNetwork.guestAddress)")
                || dnsmasq.stdout.contains("DHCPACK(\(network.tap)) \(TestNetwork.guestAddress)"))
    }

    @Test("-smp 2: Linux brings up both CPUs through our MADT, LAPICs and INIT/SIPI (no nopv typed)",
          .timeLimit(.minutes(3)))
    func smp() throws {
        let vm = try GuestProcess(executable: TestEnvironment.swiftvmm, arguments: [
            "-kernel", try requireKit("vmlinux"), "-append", "console=ttyS0 panic=-1", "-smp", "2",
            "-m", "256M", "-no-reboot", "-nographic"])
        defer { vm.signal(SIGKILL) }
        #expect(vm.expect("smp: Brought up 1 node, 2 CPUs", timeout: 120), "\(vm.stdout.suffix(2000)) \(vm.stderr)")
        #expect(vm.stdout.contains("x86: Booting SMP configuration"))
    }

    @Test("userspace: the initramfs mounts the disk, writes a marker, pings the host and powers off",
          .enabled(if: !TestEnvironment.hostIsPVM,
                   "skipped: kvm_pvm (measured): a 64-bit syscall from guest user mode lands at LSTAR still in user mode, so init segfaults at entry_SYSCALL_64"),
          .timeLimit(.minutes(5)))
    func userspace() throws {
        let network = try TestNetwork()
        defer { network.remove() }
        let root = try rootCopy()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vm = try network.start(TestEnvironment.swiftvmm, [
            "-kernel", try requireKit("bzImage"), "-initrd", try requireKit("initramfs.cpio"),
            "-append", "console=ttyS0 panic=-1 ip=\(TestNetwork.guestAddress)::\(TestNetwork.hostAddress):255.255.255.252::eth0:off",
            "-m", "256M", "-no-reboot", "-nographic", "-drive", "file=\(root),format=raw,if=virtio",
            "-netdev", "tap,id=n0,ifname=\(network.tap),script=no,downscript=no", "-device", "virtio-net-pci,netdev=n0"])
        defer { vm.signal(SIGKILL) }
        #expect(vm.expect("swiftvmm-kit: disk ok", timeout: 180), "\(vm.stdout.suffix(2000))")
        #expect(vm.expect("swiftvmm-kit: ping ok", timeout: 30))
        #expect(vm.expect("swiftvmm-kit: userspace ok", timeout: 30))
        #expect(vm.waitForExit(timeout: 60) == 0)
        let (_, marker) = try TestNetwork.output(["debugfs", "-R", "cat /swiftvmm-marker", root])
        #expect(marker.contains("written by the kit's initramfs"))
    }

    /// QEMU on the same kernel and disk, as the side-by-side reference. It
    /// cannot add the host's parameters itself, so they are given. On
    /// kvm_pvm it stops at the kernel's first int3 (KVM internal error,
    /// emulation failure: the alternatives self-test), which swiftvmm
    /// completes; elsewhere it boots as swiftvmm does.
    @Test("QEMU on the kit kernel: where it stops here", .timeLimit(.minutes(5)))
    func qemu() throws {
        let root = try rootCopy()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let vm = try GuestProcess(executable: TestEnvironment.qemu, arguments: [
            // QEMU's default CPU model: `-cpu host` aborts here (KVM refuses
            // MSR 0x10a, IA32_ARCH_CAPABILITIES, on kvm_pvm).
            "-enable-kvm", "-m", "256M", "-nographic", "-nodefaults", "-serial", "stdio", "-no-reboot",
            "-kernel", try requireKit("vmlinux"), "-append", "console=ttyS0 root=/dev/vda rw panic=-1 noxsave clearcpuid=popcnt",
            "-drive", "file=\(root),format=raw,if=virtio"])
        defer { vm.signal(SIGKILL) }
        if TestEnvironment.hostIsPVM {
            #expect(vm.expect("Linux version 6.1", timeout: 60))
            // QEMU reports the failure and holds the VM (it does not exit).
            let deadline = Date().addingTimeInterval(120)
            while !vm.stderr.contains("KVM internal error") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
            #expect(vm.stderr.contains("KVM internal error. Suberror: 1"), "QEMU: \(vm.stderr.suffix(1000))")
            #expect(!vm.stdout.contains("Run /sbin/init"))
            let lines = vm.stdout.split(whereSeparator: \.isNewline)
            print("QEMU on the kit kernel here: KVM internal error after \(lines.count) lines; the last: \(lines.last ?? "")")
        } else {
            expectRootMounted(vm, started: Date(), label: "QEMU")
        }
    }
}
}
