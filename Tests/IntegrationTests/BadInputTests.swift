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
