import Foundation
import Testing

/// Debian's cloud kernel from `make linux-guest-debian`, booted with -kernel. On
/// hosts whose guest ring 0 is emulated (kvm_pvm, shared/HOST.md) it gets as
/// far as its early console, so that is what is checked.
extension KVMGuests {
@Suite("Linux boot (Debian cloud kernel)")
struct LinuxBootTests {
    func requireKit(_ file: String) throws -> String {
        try TestEnvironment.requireBuilt("linux-debian", file, target: "linux-guest-debian")
    }

    /// Boots `kernel` and waits for the early console to show the version,
    /// our command line and an e820 map matching -m 512M.
    func bootsToEarlyConsole(_ kernel: String, timeout: Double) throws {
        let cmdline = "console=ttyS0 earlyprintk=serial swiftvmm-test=\(getpid())"
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-kernel", kernel, "-append", cmdline, "-m", "512M", "-no-reboot"])
        defer {
            p.signal(SIGTERM)
            _ = p.waitForExit(timeout: 10)
        }
        #expect(p.expect("Linux version 6.", timeout: timeout), "no banner; got: \(p.stdout.suffix(500))")
        #expect(p.expect("Command line: \(cmdline)", timeout: 10))
        #expect(p.expect("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable", timeout: 10))
        #expect(p.expect("BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable", timeout: 10))
        #expect(!p.stdout.contains("0x0000000020000000-"), "RAM beyond -m 512M in the e820 map")
    }

    @Test("vmlinux (PVH entry): Linux version, our command line and the e820 map within 60 s")
    func vmlinux() throws {
        try bootsToEarlyConsole(try requireKit("vmlinux"), timeout: 60)
    }

    // Debian builds without verbose decompressor output and its LZ4
    // decompressor alone takes ~5 minutes under an emulated ring 0.
    @Test("bzImage (64-bit boot protocol): the same within 8 minutes", .timeLimit(.minutes(10)))
    func bzImage() throws {
        try bootsToEarlyConsole(try requireKit("bzImage"), timeout: 480)
    }

    @Test("bad kernels and initrds: one line naming what is wrong")
    func badInput() throws {
        let bz = try requireKit("bzImage")
        let dir = TestEnvironment.temporaryPath("kernels")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let truncated = dir + "/truncated"
        let data = try Data(contentsOf: URL(fileURLWithPath: bz))
        try data.prefix(200_000).write(to: URL(fileURLWithPath: truncated))
        let text = dir + "/text"
        try Data("#!/bin/sh\necho hello\n".utf8).write(to: URL(fileURLWithPath: text))
        let bigInitrd = dir + "/initrd"
        #expect(FileManager.default.createFile(atPath: bigInitrd, contents: nil))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: bigInitrd))
        try h.truncate(atOffset: 300 << 20)
        try h.close()

        let cases: [([String], String)] = [
            (["-kernel", truncated], "is truncated"),
            (["-kernel", text], "is not a Linux kernel"),
            (["-kernel", bz, "-initrd", bigInitrd, "-m", "256M"], "initrd"),
            // 3000 bytes typed (on kvm_pvm the VMM adds its 26): over the limit either way.
            (["-kernel", bz, "-append", String(repeating: "a", count: 3000)], "bytes; the kernel accepts at most 2047"),
            (["-kernel", bz, "-m", "32M"], "needs guest RAM"),
            (["-initrd", bigInitrd, "-bios", TestEnvironment.firmware("hello.bin")], "-initrd needs -kernel"),
        ]
        for (args, mentions) in cases {
            let r = try runSwiftVMM(args, timeout: 30)
            #expect(r.status == 1, "\(args): status \(String(describing: r.status))")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(mentions), "\(args): \(r.stderr)")
        }
    }
}
}
