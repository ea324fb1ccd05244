import Foundation
import Testing

/// The firmware virtio-blk driver on a raw image: the same checks pass on
/// swiftvmm and on QEMU, and flushed data survives a kill -9.
extension KVMGuests {
@Suite("virtio-blk guest driver")
struct VirtioBlockGuestTests {
    /// A 1 MiB image whose sector 0 starts with the pattern the driver checks.
    func makeImage() throws -> String {
        let path = TestEnvironment.temporaryPath("disk.img")
        var data = Data(count: 1 << 20)
        data.replaceSubrange(0..<18, with: Data("SWIFTVMM-DISK-TEST".utf8))
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func sector1(_ path: String) throws -> [UInt8] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return Array(data[512..<1024])
    }

    static let expected: [UInt8] = (0..<512).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }

    @Test("the driver passes on swiftvmm, and its write reached the image")
    func swiftvmm() throws {
        let image = try makeImage()
        defer { try? FileManager.default.removeItem(atPath: image) }
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("virtio-blk-test.bin"),
                                 "-drive", "file=\(image),format=raw,if=virtio"] + debugExitAtF4)
        #expect(r.stdout.contains("virtio-blk-test: done pass=13 fail=0"), "\(r.stdout)")
        #expect(r.status == 1)
        #expect(try sector1(image) == Self.expected)
    }

    @Test("the same driver on QEMU: the same report")
    func qemuAgrees() throws {
        let (a, b) = (try makeImage(), try makeImage())
        defer {
            try? FileManager.default.removeItem(atPath: a)
            try? FileManager.default.removeItem(atPath: b)
        }
        let q = try GuestProcess(executable: TestEnvironment.qemu,
                                 arguments: ["-enable-kvm", "-nographic", "-bios", TestEnvironment.firmware("virtio-blk-test.bin"),
                                             "-drive", "file=\(a),format=raw,if=virtio"] + debugExitAtF4)
        let qStatus = q.waitForExit(timeout: 60)
        let s = try runSwiftVMM(["-bios", TestEnvironment.firmware("virtio-blk-test.bin"),
                                 "-drive", "file=\(b),format=raw,if=virtio"] + debugExitAtF4)
        #expect(qStatus == 1 && s.status == 1)
        #expect(q.stdout.replacingOccurrences(of: "\r\n", with: "\n") == s.stdout)
        #expect(try sector1(a) == sector1(b))
    }

    @Test("a read-only drive: the write fails in the guest and the image is unchanged")
    func readOnly() throws {
        let image = try makeImage()
        defer { try? FileManager.default.removeItem(atPath: image) }
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("virtio-blk-test.bin"),
                                 "-drive", "file=\(image),format=raw,if=virtio,readonly=on"] + debugExitAtF4)
        #expect(r.stdout.contains("virtio-blk-test: write sector 1 FAIL"))
        #expect(try sector1(image) == [UInt8](repeating: 0, count: 512))
    }

    @Test("SeaBIOS finds the virtio-blk disk on our PCI bus and boots its MBR (status 0x63); QEMU agrees")
    func seaBIOS() throws {
        let seabios = "/usr/share/seabios/bios.bin"
        try #require(FileManager.default.fileExists(atPath: seabios), "Debian's seabios is missing: `make test` installs it")
        let image = TestEnvironment.temporaryPath("mbr.img")
        let log = TestEnvironment.temporaryPath("seabios.log")
        try FileManager.default.copyItem(atPath: TestEnvironment.firmware("mbr.img"), toPath: image)
        defer {
            try? FileManager.default.removeItem(atPath: image)
            try? FileManager.default.removeItem(atPath: log)
        }
        let r = try runSwiftVMM(["-bios", seabios, "-drive", "file=\(image),format=raw,if=virtio",
                                 "-debugcon", "file:\(log)", "-global", "isa-debugcon.iobase=0x402"] + debugExitAtF4,
                                timeout: 120)
        #expect(r.stdout.contains("MBR: booted by SeaBIOS from the virtio-blk disk"), "\(r.stdout)")
        #expect(r.status == 0x63)
        let seabiosLog = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(seabiosLog.contains("found virtio-blk at 00:01.0"))
        #expect(seabiosLog.contains("Booting from Hard Disk"))

        let q = try GuestProcess(executable: TestEnvironment.qemu,
                                 arguments: ["-enable-kvm", "-nographic", "-bios", seabios,
                                             "-drive", "file=\(image),format=raw,if=virtio"] + debugExitAtF4)
        #expect(q.waitForExit(timeout: 120) == 0x63)
        #expect(q.stdout.contains("MBR: booted by SeaBIOS from the virtio-blk disk"))
    }

    @Test("write + flush in the guest, then kill -9 of swiftvmm: the data is in the image")
    func killAfterFlush() throws {
        let image = try makeImage()
        defer { try? FileManager.default.removeItem(atPath: image) }
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("virtio-blk-test.bin"),
                                             "-drive", "file=\(image),format=raw,if=virtio"])
        #expect(p.expect("virtio-blk-test: flush ok", timeout: 60))
        p.signal(SIGKILL)
        _ = p.waitForExit()
        #expect(try sector1(image) == Self.expected)
    }
}
}
