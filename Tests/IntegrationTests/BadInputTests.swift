import Foundation
import Testing

/// Bad command lines and files: one clear line on stderr, a non-zero status,
/// no crash, no hang.
@Suite("Bad input")
struct BadInputTests {
    func expectOneLineError(_ args: [String], mentions: String, status: Int32 = 1,
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try runSwiftVMM(args, timeout: 20)
        #expect(r.status == status, "status for \(args)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr for \(args): \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("swiftvmm: "), sourceLocation: sourceLocation)
        #expect(r.stderr.contains(mentions), "stderr: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, sourceLocation: sourceLocation)
    }

    @Test("unknown option") func unknownOption() throws {
        try expectOneLineError(["-frobnicate"], mentions: "'-frobnicate'")
    }

    @Test("option without its value") func missingValue() throws {
        try expectOneLineError(["-bios"], mentions: "'-bios' needs a value")
    }

    @Test("malformed values name the option", arguments: [
        (["-m", "0"], "-m '0'"),
        (["-m", "99999999G"], "-m '99999999G'"),
        (["-m", "lots"], "-m 'lots'"),
        (["-m", "1M"], "too small"),
        (["-smp", "0"], "-smp '0'"),
        (["-serial", "tcp:1.2.3.4:5"], "-serial 'tcp:1.2.3.4:5'"),
        (["-device", "e1000"], "-device 'e1000'"),
        (["-device", "isa-debug-exit,iobase=0xffff,iosize=4"], "isa-debug-exit"),
        (["-display", "gtk"], "-display 'gtk'"),
    ])
    func malformedValues(args: [String], mentions: String) throws {
        try expectOneLineError(args, mentions: mentions)
    }

    @Test("missing firmware file names the path") func missingFirmware() throws {
        try expectOneLineError(["-bios", "/nonexistent/bios.bin"], mentions: "'/nonexistent/bios.bin': No such file")
    }

    @Test("a device or directory as kernel, initrd or BIOS says what it is", arguments: [
        (["-kernel", "/dev/null"], "'/dev/null' is a character device, not a file"),
        (["-bios", "/tmp"], "'/tmp' is a directory, not a file"),
        (["-kernel", "/dev/null", "-initrd", "/dev/zero"], "is a character device, not a file"),
    ])
    func notFiles(args: [String], mentions: String) throws {
        try expectOneLineError(args, mentions: mentions)
    }

    @Test("a qcow2 image without format= is refused, never attached as raw; its bytes stay as they were")
    func qcow2Probed() throws {
        let path = TestEnvironment.temporaryPath("disk.qcow2")
        var header = [UInt8](repeating: 0, count: 1 << 20)
        header.replaceSubrange(0..<8, with: [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])
        #expect(FileManager.default.createFile(atPath: path, contents: Data(header)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try expectOneLineError(["-bios", TestEnvironment.firmware("hello.bin"), "-drive", "file=\(path),if=virtio"],
                               mentions: "is a qcow2 image (its header says so)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(header))
    }

    @Test("a raw image without format= is probed as raw, with QEMU's warning")
    func rawProbed() throws {
        let path = TestEnvironment.temporaryPath("disk.raw")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 1 << 20)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"), "-drive", "file=\(path),if=virtio"]
                                + debugExitAtF4)
        #expect(r.status == 0x21)
        #expect(r.stderr.contains("Image format was not specified for '\(path)' and probing guessed raw."))
        let explicit = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"),
                                        "-drive", "file=\(path),format=raw,if=virtio"] + debugExitAtF4)
        #expect(explicit.stderr.isEmpty)
    }

    @Test("empty firmware image") func emptyFirmware() throws {
        let path = TestEnvironment.temporaryPath("empty.bin")
        #expect(FileManager.default.createFile(atPath: path, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: path) }
        try expectOneLineError(["-bios", path], mentions: "is empty")
    }

    @Test("firmware image over 16 MiB") func hugeFirmware() throws {
        let path = TestEnvironment.temporaryPath("huge.bin")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try h.truncate(atOffset: (16 << 20) + 1)
        try h.close()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try expectOneLineError(["-bios", path], mentions: "16777217 bytes; the limit is 16777216")
    }

    @Test("a directory as firmware") func directoryFirmware() throws {
        try expectOneLineError(["-bios", "/tmp"], mentions: "'/tmp'")
    }

    @Test("nothing to boot") func nothingToBoot() throws {
        try expectOneLineError([], mentions: "-bios")
    }

    @Test("a text file as -kernel is refused") func kernelNotAKernel() throws {
        try expectOneLineError(["-kernel", "/etc/hostname"], mentions: "'/etc/hostname' is not a Linux kernel")
    }

    @Test("-kernel with a missing file names the path") func kernelMissing() throws {
        try expectOneLineError(["-kernel", "/nonexistent/vmlinuz"], mentions: "'/nonexistent/vmlinuz'")
    }

    @Test("unwritable -serial file names the path") func serialFileUnwritable() throws {
        try expectOneLineError(["-bios", TestEnvironment.firmware("hello.bin"), "-serial", "file:/nonexistent/dir/out"],
                               mentions: "'/nonexistent/dir/out'")
    }

    @Test("-help and -version succeed") func helpAndVersion() throws {
        let help = try runSwiftVMM(["-help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("usage: swiftvmm"))
        let version = try runSwiftVMM(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("SwiftVMM version "))
    }
}
