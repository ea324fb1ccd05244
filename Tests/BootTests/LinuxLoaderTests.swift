@testable import Boot
import Glibc
import Memory
import Testing

/// Synthetic kernels: a bzImage header and an ELF vmlinux, built byte by byte.
enum FakeKernel {
    static func put<T: FixedWidthInteger>(_ v: T, _ b: inout [UInt8], _ o: Int) {
        withUnsafeBytes(of: v.littleEndian) { for (i, x) in $0.enumerated() { b[o + i] = x } }
    }

    /// A bzImage: 4 setup sectors, `kernelSize` bytes of protected-mode code.
    static func bzImage(kernelSize: Int = 4096, version: UInt16 = 0x020F, xload: UInt16 = 1,
                        loadFlags: UInt8 = 1, cmdlineSize: UInt32 = 2047) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 5 * 512 + kernelSize)
        b[0x1F1] = 4
        put(UInt32(kernelSize / 16), &b, 0x1F4)
        put(UInt16(0xAA55), &b, 0x1FE)
        b[0x201] = 0x66  // header ends at 0x268
        b.replaceSubrange(0x202..<0x206, with: Array("HdrS".utf8))
        put(version, &b, 0x206)
        b[0x211] = loadFlags
        put(UInt32(0x7FFF_FFFF), &b, 0x22C)
        put(UInt32(0x20_0000), &b, 0x230)
        b[0x234] = 1
        put(xload, &b, 0x236)
        put(cmdlineSize, &b, 0x238)
        put(UInt64(0x100_0000), &b, 0x258)
        put(UInt32(0x40_0000), &b, 0x260)
        for i in 0..<kernelSize { b[5 * 512 + i] = UInt8(truncatingIfNeeded: i) }
        return b
    }

    /// An ELF64 executable: one PT_LOAD at 16 MiB (filesz 0x100, memsz
    /// 0x2000), and optionally a PT_NOTE with Xen's PHYS32_ENTRY.
    static func elf(pvhEntry: UInt32? = 0x100_0040) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 0x400)
        b.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        b[4] = 2; b[5] = 1; b[6] = 1
        put(UInt16(2), &b, 16)
        put(UInt16(62), &b, 18)
        put(UInt64(0x100_0000), &b, 24)  // e_entry
        put(UInt64(64), &b, 32)          // e_phoff
        put(UInt16(56), &b, 54)
        put(UInt16(pvhEntry == nil ? 1 : 2), &b, 56)
        // PT_LOAD
        put(UInt32(1), &b, 64)
        put(UInt64(0x200), &b, 64 + 8)
        put(UInt64(0x100_0000), &b, 64 + 24)
        put(UInt64(0x100), &b, 64 + 32)
        put(UInt64(0x2000), &b, 64 + 40)
        for i in 0..<0x100 { b[0x200 + i] = 0xCC }
        if let pvhEntry {
            put(UInt32(4), &b, 120)
            put(UInt64(0x300), &b, 120 + 8)
            put(UInt64(20), &b, 120 + 32)
            // Note: namesz 4, descsz 4, type 18, "Xen\0", entry.
            put(UInt32(4), &b, 0x300)
            put(UInt32(4), &b, 0x304)
            put(UInt32(18), &b, 0x308)
            b.replaceSubrange(0x30C..<0x310, with: Array("Xen\0".utf8))
            put(pvhEntry, &b, 0x310)
        }
        return b
    }
}

@Suite("Linux loader")
struct LinuxLoaderTests {
    func u32(_ b: [UInt8], _ o: Int) -> UInt32 { b[o..<o + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) } }

    @Test("bzImage: header fields read, 64-bit entry at load + 0x200, zero page filled")
    func bzImagePlan() throws {
        let plan = try LinuxLoader.plan(kernelPath: "bz", kernel: FakeKernel.bzImage(), commandLine: "console=ttyS0",
                                        initrdPath: "rd", initrd: [1, 2, 3], ramSize: 256 << 20)
        guard case let .longMode(rip, rsi, cr3, _, _) = plan.entry else {
            Issue.record("expected the 64-bit entry")
            return
        }
        #expect(rip == 0x100_0200)
        #expect(rsi == 0x7000)
        #expect(cr3 == 0x9000)
        let memory = try GuestMemory(ramSize: 256 << 20)
        try plan.install(in: memory)
        #expect(try memory.read(count: 4, at: GuestAddress(0x100_0000)) == [0, 1, 2, 3])
        let zero = try memory.read(count: 4096, at: GuestAddress(0x7000))
        #expect(Array(zero[0x202..<0x206]) == Array("HdrS".utf8))
        #expect(zero[0x210] == 0xFF)                          // type_of_loader
        #expect(u32(zero, 0x228) == 0x2_0000)                 // cmd_line_ptr
        #expect(try memory.read(count: 14, at: GuestAddress(0x2_0000)) == Array("console=ttyS0\0".utf8))
        let initrdAt = u32(zero, 0x218)
        #expect(u32(zero, 0x21C) == 3)
        #expect(initrdAt % 4096 == 0 && initrdAt > 0x140_0000)
        #expect(try memory.read(count: 3, at: GuestAddress(UInt64(initrdAt))) == [1, 2, 3])
        #expect(zero[0x1E8] == 5)                             // e820 entries
        // Identity map: PML4[0] -> PDPT, and 2 MiB pages.
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x9000)) == 0xA003)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0xB000 + 8)) == 0x20_0083)
    }

    @Test("ELF with a PVH note: PVH entry, start_info with the memory map and command line")
    func pvhPlan() throws {
        let plan = try LinuxLoader.plan(kernelPath: "vmlinux", kernel: FakeKernel.elf(), commandLine: "quiet",
                                        initrdPath: nil, initrd: nil, ramSize: 64 << 20)
        #expect(plan.entry == .pvh(eip: 0x100_0040, ebx: 0x6000, gdtBase: 0x500, gdtLimit: 31))
        let memory = try GuestMemory(ramSize: 64 << 20)
        try plan.install(in: memory)
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x6000)) == 0x336E_C578)
        #expect(try memory.load(UInt64.self, at: GuestAddress(0x6000 + 24)) == 0x2_0000)  // cmdline
        #expect(try memory.load(UInt32.self, at: GuestAddress(0x6000 + 48)) == 5)        // memmap entries
        #expect(try memory.read(count: 2, at: GuestAddress(0x100_0000)) == [0xCC, 0xCC])
        #expect(try memory.load(UInt8.self, at: GuestAddress(0x100_1000)) == 0)  // .bss zeroed
    }

    @Test("ELF without a PVH note: its entry in long mode with a zero page")
    func elfLongMode() throws {
        let plan = try LinuxLoader.plan(kernelPath: "vmlinux", kernel: FakeKernel.elf(pvhEntry: nil), commandLine: "",
                                        initrdPath: nil, initrd: nil, ramSize: 64 << 20)
        guard case let .longMode(rip, rsi, _, _, _) = plan.entry else {
            Issue.record("expected long mode")
            return
        }
        #expect(rip == 0x100_0000 && rsi == 0x7000)
    }

    @Test("e820 for 512 MiB and for 5 GiB")
    func e820() {
        let small = E820Entry.pcMap(ramSize: 512 << 20)
        #expect(small.filter { $0.kind == .ram }.reduce(0) { $0 + $1.size } == (512 << 20) - 0x60400)
        #expect(small[3] == E820Entry(address: 0x10_0000, size: (512 << 20) - 0x10_0000, kind: .ram))
        let big = E820Entry.pcMap(ramSize: 5 << 30)
        #expect(big.last == E820Entry(address: 1 << 32, size: 2 << 30, kind: .ram))
    }

    @Test("refusals, each naming what is wrong")
    func refusals() {
        let text = Array("#!/bin/sh\necho not a kernel\n".utf8)
        #expect(throws: BootError.notAKernel(path: "t")) {
            _ = try LinuxLoader.plan(kernelPath: "t", kernel: text, commandLine: "", initrdPath: nil, initrd: nil, ramSize: 64 << 20)
        }
        let bz = FakeKernel.bzImage()
        #expect(throws: BootError.self) {  // truncated inside the protected-mode kernel
            _ = try BzImage(bytes: Array(bz.prefix(5 * 512 + 100)), path: "b")
        }
        #expect(throws: BootError.self) { _ = try BzImage(bytes: Array(bz.prefix(0x210)), path: "b") }
        #expect(throws: BootError.self) { _ = try BzImage(bytes: FakeKernel.bzImage(version: 0x0204), path: "b") }
        #expect(throws: BootError.self) { _ = try BzImage(bytes: FakeKernel.bzImage(xload: 0), path: "b") }
        #expect(throws: BootError.self) { _ = try BzImage(bytes: FakeKernel.bzImage(loadFlags: 0), path: "b") }
        #expect(throws: BootError.commandLineTooLong(length: 100, limit: 50)) {
            _ = try LinuxLoader.plan(kernelPath: "b", kernel: FakeKernel.bzImage(cmdlineSize: 50),
                                     commandLine: String(repeating: "x", count: 100), initrdPath: nil, initrd: nil,
                                     ramSize: 64 << 20)
        }
        #expect(throws: BootError.self) {  // kernel's init_size does not fit in 16 MiB of RAM
            _ = try LinuxLoader.plan(kernelPath: "b", kernel: bz, commandLine: "", initrdPath: nil, initrd: nil, ramSize: 16 << 20)
        }
        #expect(throws: BootError.self) {  // initrd larger than the room left
            _ = try LinuxLoader.plan(kernelPath: "b", kernel: bz, commandLine: "", initrdPath: "rd",
                                     initrd: [UInt8](repeating: 0, count: 60 << 20), ramSize: 64 << 20)
        }
        var badELF = FakeKernel.elf()
        badELF[64 + 32] = 0xFF; badELF[64 + 33] = 0xFF  // filesz past the end of the file
        #expect(throws: BootError.self) { _ = try ELFKernel(bytes: badELF, path: "e") }
        var arm = FakeKernel.elf()
        arm[18] = 183  // AArch64
        #expect(throws: BootError.self) { _ = try ELFKernel(bytes: arm, path: "e") }
    }

    @Test("the PVH note is found among other notes and ignored when malformed")
    func notes() throws {
        let found = ELFKernel.notes(FakeKernel.elf(), offset: 0x300, size: 20)
        #expect(found.count == 1 && found[0].type == 18 && found[0].name == Array("Xen\0".utf8) && found[0].desc == 0x310..<0x314)
        #expect(ELFKernel.notes(FakeKernel.elf(), offset: 0x300, size: 8).isEmpty)
        var huge = FakeKernel.elf()
        huge[0x300] = 0xFF; huge[0x303] = 0x7F  // namesz enormous
        #expect(ELFKernel.notes(huge, offset: 0x300, size: 20).isEmpty)
        #expect(try ELFKernel(bytes: FakeKernel.elf(), path: "e").pvhEntry == 0x100_0040)
        #expect(try !ELFKernel(bytes: FakeKernel.elf(), path: "e").isLinux)
    }

    /// An ELF32 i386 kernel: one PT_LOAD at 1 MiB and, if asked, the PVH note.
    static func elf32(pvhEntry: UInt32?) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 0x400)
        b.replaceSubrange(0..<4, with: [0x7F, 0x45, 0x4C, 0x46])
        b[4] = 1; b[5] = 1; b[6] = 1
        FakeKernel.put(UInt16(2), &b, 16)
        FakeKernel.put(UInt16(3), &b, 18)            // EM_386
        FakeKernel.put(UInt32(0x10_0000), &b, 24)    // e_entry
        FakeKernel.put(UInt32(52), &b, 28)           // e_phoff
        FakeKernel.put(UInt16(32), &b, 42)           // e_phentsize
        FakeKernel.put(UInt16(pvhEntry == nil ? 1 : 2), &b, 44)
        FakeKernel.put(UInt32(1), &b, 52)            // PT_LOAD
        FakeKernel.put(UInt32(0x200), &b, 52 + 4)
        FakeKernel.put(UInt32(0x10_0000), &b, 52 + 12)
        FakeKernel.put(UInt32(0x100), &b, 52 + 16)
        FakeKernel.put(UInt32(0x100), &b, 52 + 20)
        if let pvhEntry {
            FakeKernel.put(UInt32(4), &b, 84)        // PT_NOTE
            FakeKernel.put(UInt32(0x300), &b, 84 + 4)
            FakeKernel.put(UInt32(20), &b, 84 + 16)
            FakeKernel.put(UInt32(4), &b, 0x300)
            FakeKernel.put(UInt32(4), &b, 0x304)
            FakeKernel.put(UInt32(18), &b, 0x308)
            b.replaceSubrange(0x30C..<0x310, with: Array("Xen\0".utf8))
            FakeKernel.put(pvhEntry, &b, 0x310)
        }
        return b
    }

    @Test("a 32-bit ELF with a PVH note starts at its PVH entry, as QEMU's -kernel does; without one it is refused")
    func elf32() throws {
        let plan = try LinuxLoader.plan(kernelPath: "k32", kernel: Self.elf32(pvhEntry: 0x10_0010), commandLine: "x",
                                        initrdPath: nil, initrd: nil, ramSize: 64 << 20)
        guard case let .pvh(eip, _, _, _) = plan.entry else {
            Issue.record("expected the PVH entry")
            return
        }
        #expect(eip == 0x10_0010)
        #expect(throws: BootError.unsupportedKernel(path: "k32", why: "a 32-bit ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")) {
            _ = try ELFKernel(bytes: Self.elf32(pvhEntry: nil), path: "k32")
        }
        var wrongMachine = Self.elf32(pvhEntry: 0x10_0010)
        wrongMachine[18] = 62  // x86-64 machine in a 32-bit file
        #expect(throws: BootError.self) { _ = try ELFKernel(bytes: wrongMachine, path: "k32") }
    }
}

@Suite("Boot files that are not what they should be")
struct BootFileTests {
    @Test("a device, a directory or a FIFO as a kernel, initrd or BIOS: an error naming what it is")
    func notRegularFiles() throws {
        let fifo = "/tmp/swiftvmm-test-fifo-\(getpid())"
        #expect(mkfifo(fifo, 0o600) == 0)
        defer { unlink(fifo) }
        for (path, kind) in [("/dev/null", "a character device"), ("/tmp", "a directory"), (fifo, "a FIFO")] {
            #expect(throws: BootError.notARegularFile(path: path, kind: kind)) { _ = try FileReader.read(path, limit: 1 << 20) }
            #expect(BootError.notARegularFile(path: path, kind: kind).description == "'\(path)' is \(kind), not a file")
        }
    }

    @Test("an ELF segment below 1 MiB is named as such, not as a lack of RAM")
    func lowSegment() {
        var low = FakeKernel.elf()
        FakeKernel.put(UInt64(0x8000), &low, 64 + 24)  // p_paddr
        #expect(throws: BootError.segmentInReservedArea(path: "k", address: 0x8000)) {
            _ = try LinuxLoader.plan(kernelPath: "k", kernel: low, commandLine: "", initrdPath: nil, initrd: nil,
                                     ramSize: 128 << 20)
        }
    }
}
