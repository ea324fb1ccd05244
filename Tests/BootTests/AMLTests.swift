@testable import Boot
import Foundation
import Testing

/// The AML encoder, byte for byte against ACPI 6.4 chapter 20 (and what
/// iasl emits for the same ASL), and the DSDT through Debian's iasl.
@Suite("AML builder and DSDT")
struct AMLTests {
    @Test("integers take the shortest encoding")
    func integers() {
        #expect(AML.integer(0).bytes == [0x00])
        #expect(AML.integer(1).bytes == [0x01])
        #expect(AML.integer(0x20).bytes == [0x0A, 0x20])
        #expect(AML.integer(0x1234).bytes == [0x0B, 0x34, 0x12])
        #expect(AML.integer(0x0001_FFFF).bytes == [0x0C, 0xFF, 0xFF, 0x01, 0x00])
        #expect(AML.integer(1 << 40).bytes == [0x0E, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test("EISA ids compress as iasl's EisaId() does")
    func eisaIDs() {
        // iasl: EisaId ("PNP0A03") = 0x030AD041, stored little-endian.
        #expect(AML.eisaID("PNP0A03").bytes == [0x0C, 0x41, 0xD0, 0x0A, 0x03])
        #expect(AML.eisaID("PNP0501").bytes == [0x0C, 0x41, 0xD0, 0x05, 0x01])
    }

    @Test("name strings: root prefix, padding, dual and multi segments")
    func nameStrings() {
        #expect(AML.nameString("_SB") == Array("_SB_".utf8))
        #expect(AML.nameString("\\_S5") == [0x5C] + Array("_S5_".utf8))
        #expect(AML.nameString("\\_SB.PCI0") == [0x5C, 0x2E] + Array("_SB_PCI0".utf8))
        #expect(AML.nameString("A.B.C") == [0x2F, 3] + Array("A___B___C___".utf8))
    }

    @Test("PkgLength: one byte up to 63, then 2, 3 bytes with the low nibble first")
    func packageLengths() {
        #expect(AML.packageLength([UInt8](repeating: 0, count: 62)).prefix(1) == [63])
        let two = AML.packageLength([UInt8](repeating: 0, count: 63))  // total 65 = 0x41
        #expect(Array(two.prefix(2)) == [0x41, 0x04])
        let big = AML.packageLength([UInt8](repeating: 0, count: 5000))  // total 5003 = 0x138B: 3 bytes
        #expect(Array(big.prefix(3)) == [0x80 | 0x0B, 0x38, 0x01])
        #expect(big.count == 5003)
    }

    @Test("Name(_S5, Package(){0,0,0,0}) as iasl encodes it")
    func s5() {
        #expect(AML.name("\\_S5", AML.package([AML.integer(0), AML.integer(0), AML.integer(0), AML.integer(0)])).bytes
                == [0x08, 0x5C, 0x5F, 0x53, 0x35, 0x5F, 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00])
    }

    @Test("resource descriptors: IO, IRQNoFlags, WordBusNumber, DWordMemory, end tag")
    func resources() {
        #expect(AMLResource.io(base: 0x3F8, length: 8) == [0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08])
        #expect(AMLResource.irq(4) == [0x22, 0x10, 0x00])
        #expect(AMLResource.busNumbers(0...0xFF) == [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00,
                                                     0xFF, 0x00, 0x00, 0x00, 0x00, 0x01])
        let mem = AMLResource.memoryWindow32(0xC000_0000...0xFEBF_FFFF)
        #expect(mem.count == 26 && mem[0] == 0x87 && mem[3] == 0)
        #expect(Array(mem[22..<26]) == [0x00, 0x00, 0xC0, 0x3E])  // length 0x3EC00000
        #expect(AMLResource.template([]).bytes == [0x11, 0x05, 0x0A, 0x02, 0x79, 0x00])
    }

    @Test("the DSDT names the host bridge, a _PRT entry per slot and pin, and the PNP devices")
    func dsdtContents() {
        let dsdt = ACPITables.dsdt()
        func contains(_ needle: [UInt8]) -> Bool {
            dsdt.indices.contains { i in i + needle.count <= dsdt.count && Array(dsdt[i..<i + needle.count]) == needle }
        }
        for name in ["PCI0", "_PRT", "_CRS", "COM1", "RTC_", "KBD_", "MOU_", "_S5_"] {
            #expect(contains(Array(name.utf8)), "\(name)")
        }
        for hid in ["PNP0A03", "PNP0501", "PNP0B00", "PNP0303", "PNP0F13"] {
            #expect(contains(AML.eisaID(hid).bytes), "\(hid)")
        }
        // Slot 3, INTB#: Package(4) { 0x0003FFFF, One, Zero, GSI }.
        let gsi = PCIPlatformLayout.gsi(slot: 3, pin: 1)
        #expect(contains([0x12, 0x0B, 0x04, 0x0C, 0xFF, 0xFF, 0x03, 0x00, 0x01, 0x00, 0x0A, gsi]))
    }

    /// Debian's iasl (acpica-tools) disassembles what we emit; its report
    /// must have no errors or warnings, and the disassembly must hold the
    /// objects we wrote.
    @Test("iasl -d disassembles the DSDT without errors, and compiles it back to the same AML")
    func iaslAcceptsDSDT() throws {
        let found = ["/usr/bin/iasl", "/usr/sbin/iasl"].first { FileManager.default.isExecutableFile(atPath: $0) }
        let path = try #require(found, "iasl is missing: `make test` installs acpica-tools")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftvmm-aml-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let table = dir.appendingPathComponent("dsdt.dat")
        try Data(ACPITables.dsdt()).write(to: table)
        func iasl(_ arguments: [String]) throws -> (status: Int32, report: String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path)
            process.arguments = arguments
            process.currentDirectoryURL = dir
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, report)
        }
        let (status, report) = try iasl(["-d", table.path])
        #expect(status == 0, "\(report)")
        #expect(!report.contains("Error") && !report.contains("Warning"), "\(report)")
        // The disassembler is lenient; the compiler is not. Its AML for the
        // disassembled source must be ours byte for byte (after the header,
        // which names the compiler).
        // -oa: no optimisations, so iasl keeps our name paths as written.
        let (compiled, compileReport) = try iasl(["-oa", "-p", dir.appendingPathComponent("again").path, "dsdt.dsl"])
        #expect(compiled == 0, "\(compileReport)")
        #expect(compileReport.contains(" 0 Errors, 0 Warnings"), "\(compileReport)")
        let again = try [UInt8](Data(contentsOf: dir.appendingPathComponent("again.aml")))
        #expect(Array(again.dropFirst(36)) == Array(ACPITables.dsdt().dropFirst(36)))
        let dsl = try String(contentsOf: dir.appendingPathComponent("dsdt.dsl"), encoding: .utf8)
        for text in ["Device (PCI0)", "EisaId (\"PNP0A03\")", "Name (_PRT, Package (0x7C)", "Device (COM1)",
                     "EisaId (\"PNP0B00\")", "WordBusNumber (ResourceProducer", "DWordMemory (ResourceProducer",
                     "IRQNoFlags ()", "Name (\\_S5, Package (0x04)"] {
            #expect(dsl.contains(text), "\(text) not in the disassembly")
        }
    }
}
