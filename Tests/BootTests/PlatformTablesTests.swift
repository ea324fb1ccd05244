@testable import Boot
import Memory
import Testing

/// Reads the ACPI and MP tables back the way acpidump and Linux do.
@Suite("ACPI and MP tables")
struct PlatformTablesTests {
    func memory(cpus: Int) throws -> GuestMemory {
        let m = try GuestMemory(ramSize: 64 << 20)
        for blob in ACPITables(cpus: cpus).blobs + MPTable.build(cpus: cpus) {
            try m.write(blob.bytes, at: GuestAddress(blob.address))
        }
        return m
    }

    func sum(_ b: [UInt8]) -> Int { b.reduce(0) { $0 &+ Int($1) } & 0xFF }

    @Test("RSDP -> XSDT -> FACP, APIC, DSDT: signatures, lengths and checksums")
    func acpiChain() throws {
        let m = try memory(cpus: 2)
        let parsed = try #require(ACPITables.parse { a, n in try? m.read(count: n, at: GuestAddress(a)) })
        #expect(parsed.rsdpValid)
        #expect(parsed.tables.map(\.signature) == ["XSDT", "FACP", "DSDT", "APIC"])
        #expect(parsed.tables.allSatisfy { $0.checksumValid })
        let fadt = try #require(parsed.tables.first { $0.signature == "FACP" })
        #expect(fadt.length == 276)
        func u32(_ b: [UInt8], _ o: Int) -> UInt32 { b[o..<o + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }
        #expect(u32(fadt.body, 56 - 36) == 0x600)  // PM1a_EVT_BLK
        #expect(u32(fadt.body, 64 - 36) == 0x604)  // PM1a_CNT_BLK
        #expect(fadt.body[46 - 36] == 9)          // SCI
        #expect(u32(fadt.body, 112 - 36) & (1 << 8) == 0)  // fixed-feature power button
    }

    @Test("MADT lists every CPU's local APIC, the IOAPIC and the SCI override")
    func madt() throws {
        let m = try memory(cpus: 3)
        let parsed = try #require(ACPITables.parse { a, n in try? m.read(count: n, at: GuestAddress(a)) })
        let madt = try #require(parsed.tables.first { $0.signature == "APIC" })
        var i = 8
        var lapics: [UInt8] = []
        var ioapic: UInt8?
        var overrides: [(UInt8, UInt32)] = []
        while i < madt.body.count {
            let type = madt.body[i], len = Int(madt.body[i + 1])
            switch type {
            case 0: lapics.append(madt.body[i + 3])
            case 1: ioapic = madt.body[i + 2]
            case 2: overrides.append((madt.body[i + 3], madt.body[(i + 4)..<(i + 8)].reversed().reduce(0) { $0 << 8 | UInt32($1) }))
            default: break
            }
            #expect(len > 0)
            i += len
        }
        #expect(lapics == [0, 1, 2])
        #expect(ioapic == 3)
        #expect(overrides.count == 1 && overrides[0] == (9, 9))
    }

    @Test("DSDT ends with the _S5 package")
    func dsdt() throws {
        let m = try memory(cpus: 1)
        let parsed = try #require(ACPITables.parse { a, n in try? m.read(count: n, at: GuestAddress(a)) })
        let dsdt = try #require(parsed.tables.first { $0.signature == "DSDT" })
        #expect(Array(dsdt.body.suffix(13)) == [0x08, 0x5C] + Array("_S5_".utf8) + [0x12, 0x06, 0x04, 0, 0, 0, 0])
    }

    @Test("MP floating pointer and configuration table: signatures, checksums, one processor entry per CPU")
    func mpTable() throws {
        let m = try memory(cpus: 2)
        let fp = try m.read(count: 16, at: GuestAddress(MPTable.floatingPointerAddress))
        #expect(Array(fp[0..<4]) == Array("_MP_".utf8))
        #expect(sum(fp) == 0)
        let tableAddress = UInt64(fp[4..<8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
        let header = try m.read(count: 44, at: GuestAddress(tableAddress))
        #expect(Array(header[0..<4]) == Array("PCMP".utf8))
        let length = Int(header[4]) | Int(header[5]) << 8
        let table = try m.read(count: length, at: GuestAddress(tableAddress))
        #expect(sum(table) == 0)
        let entries = Int(header[34]) | Int(header[35]) << 8
        var i = 44
        var processors: [(UInt8, UInt8)] = []
        for _ in 0..<entries {
            let type = table[i]
            if type == 0 { processors.append((table[i + 1], table[i + 3])) }
            i += type == 0 ? 20 : 8
        }
        #expect(i == length)
        #expect(processors.map(\.0) == [0, 1])
        #expect(processors.map(\.1) == [3, 1])  // the first is the boot processor
    }

    @Test("tables sit in the BIOS area the e820 map reserves")
    func placement() {
        for blob in ACPITables(cpus: 4).blobs + MPTable.build(cpus: 4) {
            #expect(blob.address >= 0xE_0000 && blob.address + UInt64(blob.bytes.count) <= 0x10_0000)
        }
    }
}

@Suite("MP table PCI routing")
struct MPTablePCIRoutingTests {
    @Test("bus 0 is PCI, bus 1 ISA; every slot's INTA#-INTD# goes to its GSI, level/active low")
    func pciInterrupts() {
        let blobs = MPTable.build(cpus: 1)
        let table = blobs[1].bytes
        let entries = Int(table[34]) | Int(table[35]) << 8
        var i = 44
        var buses: [UInt8: String] = [:]
        var pci: [UInt8: UInt8] = [:]
        var isa = 0
        for _ in 0..<entries {
            switch table[i] {
            case 1: buses[table[i + 1]] = String(decoding: table[i + 2..<i + 8], as: UTF8.self)
            case 3 where table[i + 4] == 0:
                #expect(table[i + 2] == 0x0F)
                pci[table[i + 5]] = table[i + 7]
            case 3 where table[i + 4] == 1: isa += 1
            default: break
            }
            i += table[i] == 0 ? 20 : 8
        }
        #expect(buses == [0: "PCI   ", 1: "ISA   "])
        #expect(isa == 16)
        #expect(pci.count == 31 * 4)
        #expect(pci[UInt8(2 << 2 | 0)] == PCIPlatformLayout.gsi(slot: 2, pin: 0))
        #expect(pci[UInt8(31 << 2 | 3)] == PCIPlatformLayout.gsi(slot: 31, pin: 3))
    }
}

@Suite("FADT reset register")
struct FADTResetTests {
    @Test("RESET_REG is the byte at I/O port 0xCF9, value 6, and RESET_REG_SUP is set")
    func resetRegister() {
        let fadt = ACPITables.fadt(dsdt: 0xF1000)
        #expect(Array(fadt[116..<128]) == [1, 8, 0, 1, 0xF9, 0x0C, 0, 0, 0, 0, 0, 0])
        #expect(fadt[128] == 6)
        #expect(fadt[113] & (1 << 2) != 0)  // flags bit 10
    }
}
