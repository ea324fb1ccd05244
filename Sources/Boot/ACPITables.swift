/// ACPI tables for a PC with legacy PM hardware (ACPI 6.4, chapter 5):
/// RSDP -> XSDT -> FADT (-> DSDT) and MADT. Built as bytes with checksums;
/// `ACPITables.parse` reads them back the way acpidump/iasl would, for tests.
public struct ACPITables: Sendable {
    /// Where the guest finds them (the BIOS area, scanned by Linux for "RSD PTR ").
    public static let rsdpAddress: UInt64 = 0xF_0000
    static let tablesAddress: UInt64 = 0xF_1000

    /// The fixed ACPI hardware SwiftVMM emulates (Devices.ACPIPowerManagement).
    public static let pm1aEventBlock: UInt16 = 0x600
    public static let pm1aControlBlock: UInt16 = 0x604
    public static let sciIRQ: UInt8 = 9
    /// The FADT's reset register (PCIHostBridge.resetControlPort) and value, as QEMU's pc machine has them.
    public static let resetRegister: UInt16 = 0xCF9
    public static let resetValue: UInt8 = 0x06
    static let localAPICAddress: UInt32 = 0xFEE0_0000
    static let ioAPICAddress: UInt32 = 0xFEC0_0000
    static let oemID = Array("SWIFTV".utf8)
    static let oemTableID = Array("SWIFTVMM".utf8)

    /// (guest address, bytes) of every table, RSDP first.
    public let blobs: [(address: UInt64, bytes: [UInt8])]

    public init(cpus: Int) {
        var next = ACPITables.tablesAddress
        func place(_ table: [UInt8]) -> UInt64 {
            let at = next
            next = (next + UInt64(table.count) + 15) & ~15
            return at
        }
        let dsdt = ACPITables.dsdt()
        let dsdtAt = place(dsdt)
        let fadt = ACPITables.fadt(dsdt: dsdtAt)
        let fadtAt = place(fadt)
        let madt = ACPITables.madt(cpus: cpus)
        let madtAt = place(madt)
        let xsdt = ACPITables.xsdt([fadtAt, madtAt])
        let xsdtAt = place(xsdt)
        blobs = [(ACPITables.rsdpAddress, ACPITables.rsdp(xsdt: xsdtAt)), (dsdtAt, dsdt), (fadtAt, fadt),
                 (madtAt, madt), (xsdtAt, xsdt)]
    }

    // MARK: builders

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    static func checksum(_ b: [UInt8]) -> UInt8 { UInt8(truncatingIfNeeded: 0 &- b.reduce(0) { $0 &+ Int($1) }) }

    /// RSDP, revision 2 (§5.2.5.3): the first 20 bytes and all 36 each sum to 0.
    static func rsdp(xsdt: UInt64) -> [UInt8] {
        var b = Array("RSD PTR ".utf8) + [0] + oemID + [2] + le(UInt32(0)) + le(UInt32(36)) + le(xsdt) + [0, 0, 0, 0]
        b[8] = checksum(Array(b[0..<20]))
        b[32] = checksum(b)
        return b
    }

    /// The 36-byte header every other table starts with (§5.2.6), checksum fixed after.
    static func table(_ signature: String, revision: UInt8, body: [UInt8]) -> [UInt8] {
        var b = Array(signature.utf8) + le(UInt32(36 + body.count)) + [revision, 0] + oemID + oemTableID
        b += le(UInt32(1)) + Array("SVMM".utf8) + le(UInt32(1)) + body
        b[9] = checksum(b)
        return b
    }

    static func xsdt(_ entries: [UInt64]) -> [UInt8] {
        table("XSDT", revision: 1, body: entries.flatMap { le($0) })
    }

    /// FADT revision 6 (§5.2.9): legacy PM1a event/control blocks, SCI on
    /// IRQ 9, no SMI command port (ACPI mode is always on), the RTC century
    /// byte at CMOS 0x32, a fixed-feature power button.
    static func fadt(dsdt: UInt64) -> [UInt8] {
        var body = [UInt8](repeating: 0, count: 276 - 36)
        func put(_ bytes: [UInt8], _ offset: Int) { body.replaceSubrange(offset - 36..<offset - 36 + bytes.count, with: bytes) }
        /// A Generic Address Structure in system I/O space.
        func gas(_ port: UInt16, bits: UInt8) -> [UInt8] { [1, bits, 0, bits == 8 ? 1 : bits == 16 ? 2 : 3] + le(UInt64(port)) }
        put(le(UInt32(dsdt)), 40)                      // DSDT
        put([0], 45)                                   // Preferred_PM_Profile: unspecified
        put(le(UInt16(sciIRQ)), 46)                    // SCI_INT
        put(le(UInt32(pm1aEventBlock)), 56)            // PM1a_EVT_BLK
        put(le(UInt32(pm1aControlBlock)), 64)          // PM1a_CNT_BLK
        put([4, 2], 88)                                // PM1_EVT_LEN, PM1_CNT_LEN
        put([0x32], 108)                               // CENTURY
        put(le(UInt16(0x0003)), 109)                   // IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042
        // Flags: WBINVD; SLP_BUTTON set = no fixed sleep button; PWR_BUTTON
        // (bit 8) clear = the power button is the fixed-feature one;
        // RESET_REG_SUP: the reset register below works.
        put(le(UInt32(1 << 0 | 1 << 9 | 1 << 10)), 112)
        put(gas(resetRegister, bits: 8), 116)          // RESET_REG: the PIIX reset control byte
        put([resetValue], 128)                         // RESET_VALUE: RST_CPU | SYS_RST
        put([4], 131)                                  // FADT minor version
        put(le(dsdt), 140)                             // X_DSDT
        put(gas(pm1aEventBlock, bits: 32), 148)        // X_PM1a_EVT_BLK
        put(gas(pm1aControlBlock, bits: 16), 172)      // X_PM1a_CNT_BLK
        return table("FACP", revision: 6, body: body)
    }

    /// MADT (§5.2.12): one enabled local APIC per CPU, the IOAPIC, and the
    /// SCI as a level-triggered, active-high ISA interrupt. IRQ 0 is not
    /// overridden: the PIT reaches IOAPIC pin 0, as KVM's default routing has it.
    static func madt(cpus: Int) -> [UInt8] {
        var body = le(localAPICAddress) + le(UInt32(1))  // PCAT_COMPAT: 8259s present
        for i in 0..<cpus {
            body += [0, 8, UInt8(i), UInt8(i)] + le(UInt32(1))  // Processor Local APIC, enabled
        }
        body += [1, 12, UInt8(cpus), 0] + le(ioAPICAddress) + le(UInt32(0))  // I/O APIC, GSI base 0
        body += [2, 10, 0, sciIRQ] + le(UInt32(sciIRQ)) + le(UInt16(0x000D))  // ISO: level, active high
        body += [4, 6, 0xFF] + le(UInt16(0)) + [1]  // Local APIC NMI on LINT1, all processors
        return table("APIC", revision: 5, body: body)
    }

    /// The DSDT (§5.2.11.1): `\_SB.PCI0`, the PCI host bridge (PNP0A03)
    /// with its bus, I/O and memory windows and a `_PRT` for every slot's
    /// INTA#-INTD#; the ISA devices a PC has (COM1, RTC, i8042 keyboard and
    /// mouse ports) as PNP nodes; and `\_S5` (SLP_TYPa = SLP_TYPb = 0), so
    /// the guest can power off by writing SLP_EN to PM1a_CNT.
    static func dsdt() -> [UInt8] {
        let aml = [AML.scope("\\_SB", [pciHostBridge(), com1(), rtc(), keyboard(), mouse()]),
                   AML.name("\\_S5", AML.package([AML.integer(0), AML.integer(0), AML.integer(0), AML.integer(0)]))]
        return table("DSDT", revision: 2, body: aml.flatMap(\.bytes))
    }

    /// PCI0: segment 0, bus 0, windows from PCIPlatformLayout (ACPI 6.4
    /// §6.1, §6.2.2 _CRS, §6.2.13 _PRT).
    static func pciHostBridge() -> AML.Term {
        let crs = AMLResource.template(
            [AMLResource.busNumbers(0...0xFF),
             AMLResource.io(base: PCIPlatformLayout.configPorts.lowerBound, length: UInt8(PCIPlatformLayout.configPorts.count))]
            + PCIPlatformLayout.ioWindows.map { AMLResource.ioWindow($0) }
            + [AMLResource.memoryWindow32(PCIPlatformLayout.memoryWindow32)])
        // _PRT entries: Package { address (slot << 16 | 0xFFFF: any function),
        // pin, source (0: the last field is a GSI), GSI }.
        var routes: [AML.Term] = []
        for slot in PCIPlatformLayout.deviceSlots {
            for pin in 0..<4 {
                routes.append(AML.package([AML.integer(UInt64(slot) << 16 | 0xFFFF), AML.integer(UInt64(pin)),
                                           AML.integer(0), AML.integer(UInt64(PCIPlatformLayout.gsi(slot: slot, pin: pin)))]))
            }
        }
        return AML.device("PCI0", [
            AML.name("_HID", AML.eisaID("PNP0A03")),
            AML.name("_SEG", AML.integer(0)),
            AML.name("_BBN", AML.integer(0)),
            AML.name("_UID", AML.integer(0)),
            AML.name("_CRS", crs),
            AML.name("_PRT", AML.package(routes)),
        ])
    }

    /// A PNP node with fixed resources: _HID, _UID, _CRS.
    static func pnpDevice(_ name: String, hid: String, uid: UInt64 = 0, resources: [[UInt8]]) -> AML.Term {
        AML.device(name, [AML.name("_HID", AML.eisaID(hid)), AML.name("_UID", AML.integer(uid)),
                          AML.name("_CRS", AMLResource.template(resources))])
    }

    /// COM1: the 16550 at 0x3F8, IRQ 4 (PNP0501, a 16550A-compatible port).
    static func com1() -> AML.Term {
        pnpDevice("COM1", hid: "PNP0501", uid: 1, resources: [AMLResource.io(base: 0x3F8, length: 8), AMLResource.irq(4)])
    }

    /// The CMOS RTC at 0x70, IRQ 8 (PNP0B00, an AT real-time clock).
    static func rtc() -> AML.Term {
        pnpDevice("RTC", hid: "PNP0B00", resources: [AMLResource.io(base: 0x70, length: 2), AMLResource.irq(8)])
    }

    /// The i8042's keyboard port: data 0x60, command/status 0x64, IRQ 1 (PNP0303).
    static func keyboard() -> AML.Term {
        pnpDevice("KBD", hid: "PNP0303",
                  resources: [AMLResource.io(base: 0x60, length: 1), AMLResource.io(base: 0x64, length: 1), AMLResource.irq(1)])
    }

    /// The i8042's auxiliary (mouse) port, IRQ 12 (PNP0F13).
    static func mouse() -> AML.Term {
        pnpDevice("MOU", hid: "PNP0F13", resources: [AMLResource.irq(12)])
    }

    // MARK: reading back (tests, diagnostics)

    public struct ParsedTable: Equatable {
        public let signature: String
        public let length: Int
        public let checksumValid: Bool
        public let body: [UInt8]
    }

    /// Follows RSDP -> XSDT -> tables in `read` (a guest memory reader),
    /// checking every signature, length and checksum.
    public static func parse(read: (UInt64, Int) -> [UInt8]?) -> (rsdpValid: Bool, tables: [ParsedTable])? {
        guard let rsdp = read(rsdpAddress, 36), Array(rsdp[0..<8]) == Array("RSD PTR ".utf8) else { return nil }
        let valid = rsdp[0..<20].reduce(0) { $0 &+ Int($1) } & 0xFF == 0 && rsdp.reduce(0) { $0 &+ Int($1) } & 0xFF == 0
        let xsdtAddress = rsdp[24..<32].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        func table(at address: UInt64) -> ParsedTable? {
            guard let header = read(address, 36) else { return nil }
            let length = Int(header[4..<8].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
            guard length >= 36, length < 1 << 20, let all = read(address, length) else { return nil }
            return ParsedTable(signature: String(decoding: header[0..<4], as: UTF8.self), length: length,
                               checksumValid: all.reduce(0) { $0 &+ Int($1) } & 0xFF == 0, body: Array(all[36...]))
        }
        guard let xsdt = table(at: xsdtAddress), xsdt.signature == "XSDT" else { return (valid, []) }
        var tables = [xsdt]
        for i in stride(from: 0, to: xsdt.body.count, by: 8) {
            let address = xsdt.body[i..<i + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard let t = table(at: address) else { continue }
            tables.append(t)
            if t.signature == "FACP", t.body.count >= 140 - 36 + 8 {
                let dsdt = t.body[(140 - 36)..<(148 - 36)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                if let d = table(at: dsdt) { tables.append(d) }
            }
        }
        return (valid, tables)
    }
}
