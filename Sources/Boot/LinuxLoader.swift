import Memory

/// The state a kernel's entry expects, as plain values (Machine applies
/// it to the vCPU).
public enum KernelEntryState: Equatable, Sendable {
    /// boot.rst "64-bit Boot Protocol": long mode, identity-mapped paging,
    /// flat __BOOT_CS (0x10) / __BOOT_DS (0x18) segments, RSI = zero page.
    case longMode(rip: UInt64, rsi: UInt64, cr3: UInt64, gdtBase: UInt64, gdtLimit: UInt16)
    /// The PVH entry (xen/include/public/arch-x86/hvm/start_info.h):
    /// 32-bit protected mode, paging off, flat segments, EBX = start_info.
    case pvh(eip: UInt32, ebx: UInt32, gdtBase: UInt64, gdtLimit: UInt16)
}

/// What to write into guest memory and how to start the boot vCPU. Kept so a
/// reset can load the kernel again (it overwrites itself as it runs).
public struct KernelBootPlan: Sendable {
    public var writes: [(address: GuestAddress, bytes: [UInt8])]
    public var entry: KernelEntryState

    /// Writes everything into guest memory.
    public func install(in memory: GuestMemory) throws(BootError) {
        for w in writes {
            do { try memory.write(w.bytes, at: w.address) } catch {
                throw .kernelDoesNotFit(path: "kernel", needed: w.address.rawValue + UInt64(w.bytes.count),
                                        available: memory.ramSize)
            }
        }
    }
}

/// Loads Linux per Documentation/arch/x86/boot.rst: a bzImage through the
/// 64-bit boot protocol, or an ELF vmlinux through its PVH entry when it has
/// one (else its ELF entry in long mode, with a zero page).
public enum LinuxLoader {
    // Guest-physical layout of what the loader writes (all below 1 MiB).
    static let gdtAddress: UInt64 = 0x500
    static let startInfoAddress: UInt64 = 0x6000
    static let pvhMemmapAddress: UInt64 = 0x6100
    static let zeroPageAddress: UInt64 = 0x7000
    static let pml4Address: UInt64 = 0x9000
    static let commandLineAddress: UInt64 = 0x2_0000
    /// Command-line limit for kernels that do not state one (ELF, PVH).
    static let defaultCommandLineLimit = 2048

    /// Flat GDT: null, null, __BOOT_CS (64-bit code, 0x10), __BOOT_DS (0x18);
    /// 0x08 is a 32-bit code segment for the PVH entry.
    static let gdt: [UInt64] = [0, 0x00CF_9B00_0000_FFFF, 0x00AF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF]

    /// A Linux kernel: a bzImage, or an ELF with a "Linux" note (a vmlinux).
    /// Other kernels (a bare PVH ELF) get no Linux command-line additions.
    public static func isLinux(_ kernel: [UInt8]) -> Bool {
        if BzImage.matches(kernel) { return true }
        return ELFKernel.matches(kernel) && ((try? ELFKernel(bytes: kernel, path: ""))?.isLinux ?? false)
    }

    public static func plan(kernelPath: String, kernel: [UInt8], commandLine: String,
                            initrdPath: String?, initrd: [UInt8]?, ramSize: UInt64,
                            cpus: Int = 1) throws(BootError) -> KernelBootPlan {
        let lowRAMEnd = min(ramSize, GuestMemory.lowMemoryLimit)
        let e820 = E820Entry.pcMap(ramSize: ramSize)
        var writes: [(address: GuestAddress, bytes: [UInt8])] = []
        var gdtBytes: [UInt8] = []
        for d in gdt { gdtBytes += littleEndian(d) }
        writes.append((GuestAddress(gdtAddress), gdtBytes))
        let gdtLimit = UInt16(gdtBytes.count - 1)
        let cmdline = Array(commandLine.utf8) + [0]
        // ACPI and MP tables in the BIOS area (reserved in the e820 map).
        for blob in ACPITables(cpus: cpus).blobs + MPTable.build(cpus: cpus) {
            writes.append((GuestAddress(blob.address), blob.bytes))
        }

        if BzImage.matches(kernel) {
            let image = try BzImage(bytes: kernel, path: kernelPath)
            let limit = Int(image.commandLineSize)
            guard cmdline.count - 1 <= limit else { throw .commandLineTooLong(length: cmdline.count - 1, limit: limit) }
            let load = image.preferredAddress
            guard load + UInt64(max(UInt64(image.initSize), UInt64(image.kernelSize))) <= lowRAMEnd else {
                throw .kernelDoesNotFit(path: kernelPath, needed: load + UInt64(image.initSize), available: ramSize)
            }
            writes.append((GuestAddress(load), Array(kernel[image.kernelOffset...])))
            let (initrdAt, initrdSize) = try placeInitrd(initrd, path: initrdPath, below: min(UInt64(image.initrdAddressMax) + 1, lowRAMEnd),
                                                         above: load + UInt64(image.initSize))
            if let initrd, let initrdAt { writes.append((GuestAddress(initrdAt), initrd)) }
            writes.append((GuestAddress(commandLineAddress), cmdline))
            var zero = ZeroPage(setupHeader: image.setupHeader)
            zero.setLoaderFields(commandLine: commandLineAddress, initrd: initrdAt ?? 0, initrdSize: initrdSize)
            zero.setE820(e820)
            zero.put(ACPITables.rsdpAddress, at: 0x070)  // acpi_rsdp_addr (protocol 2.14)
            writes.append((GuestAddress(zeroPageAddress), zero.bytes))
            writes.append((GuestAddress(pml4Address), IdentityPageTables.build(at: pml4Address)))
            // The 64-bit entry is 0x200 past the protected-mode kernel's start.
            return KernelBootPlan(writes: writes, entry: .longMode(rip: load + 0x200, rsi: zeroPageAddress,
                                                                  cr3: pml4Address, gdtBase: gdtAddress, gdtLimit: gdtLimit))
        }

        guard ELFKernel.matches(kernel) else { throw .notAKernel(path: kernelPath) }
        let elf = try ELFKernel(bytes: kernel, path: kernelPath)
        guard cmdline.count - 1 <= defaultCommandLineLimit else {
            throw .commandLineTooLong(length: cmdline.count - 1, limit: defaultCommandLineLimit)
        }
        var kernelEnd: UInt64 = 0
        for seg in elf.segments {
            let end = seg.physicalAddress + seg.memorySize
            guard seg.physicalAddress >= 0x10_0000 else {
                throw .segmentInReservedArea(path: kernelPath, address: seg.physicalAddress)
            }
            guard end <= lowRAMEnd else { throw .kernelDoesNotFit(path: kernelPath, needed: end, available: ramSize) }
            kernelEnd = max(kernelEnd, end)
            var bytes = Array(kernel[seg.fileOffset..<(seg.fileOffset + seg.fileSize)])
            bytes += [UInt8](repeating: 0, count: Int(seg.memorySize) - seg.fileSize)  // .bss
            writes.append((GuestAddress(seg.physicalAddress), bytes))
        }
        let (initrdAt, initrdSize) = try placeInitrd(initrd, path: initrdPath, below: lowRAMEnd, above: kernelEnd)
        if let initrd, let initrdAt { writes.append((GuestAddress(initrdAt), initrd)) }
        writes.append((GuestAddress(commandLineAddress), cmdline))

        if let pvh = elf.pvhEntry {
            writes.append((GuestAddress(startInfoAddress),
                           StartInfo.bytes(commandLine: commandLineAddress, memmap: pvhMemmapAddress, entries: e820.count,
                                           initrd: initrdAt, initrdSize: initrdSize, modlist: startInfoAddress + 0x80)))
            writes.append((GuestAddress(pvhMemmapAddress), StartInfo.memmap(e820)))
            return KernelBootPlan(writes: writes, entry: .pvh(eip: pvh, ebx: UInt32(startInfoAddress),
                                                             gdtBase: gdtAddress, gdtLimit: gdtLimit))
        }
        var zero = ZeroPage(setupHeader: [])
        zero.setELFDefaults()
        zero.setLoaderFields(commandLine: commandLineAddress, initrd: initrdAt ?? 0, initrdSize: initrdSize)
        zero.setE820(e820)
        zero.put(ACPITables.rsdpAddress, at: 0x070)
        writes.append((GuestAddress(zeroPageAddress), zero.bytes))
        writes.append((GuestAddress(pml4Address), IdentityPageTables.build(at: pml4Address)))
        return KernelBootPlan(writes: writes, entry: .longMode(rip: elf.entry, rsi: zeroPageAddress, cr3: pml4Address,
                                                              gdtBase: gdtAddress, gdtLimit: gdtLimit))
    }

    /// The initrd goes as high as it can, page aligned, below `below`
    /// (initrd_addr_max + 1 or the end of low RAM) and above `above`.
    static func placeInitrd(_ initrd: [UInt8]?, path: String?, below: UInt64, above: UInt64) throws(BootError)
        -> (UInt64?, UInt32) {
        guard let initrd, !initrd.isEmpty else { return (nil, 0) }
        let size = UInt64(initrd.count)
        let room = below > above ? below - above : 0
        guard size <= room, size <= UInt64(UInt32.max) else {
            throw .initrdTooLarge(path: path ?? "initrd", size: size, room: room)
        }
        let at = (below - size) & ~0xFFF
        guard at >= above else { throw .initrdTooLarge(path: path ?? "initrd", size: size, room: room) }
        return (at, UInt32(size))
    }

    static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }
}

/// boot_params, "the zero page" (arch/x86/include/uapi/asm/bootparam.h).
struct ZeroPage {
    var bytes = [UInt8](repeating: 0, count: 4096)

    init(setupHeader: [UInt8]) {
        // The setup header sits at 0x1F1, as in the bzImage file.
        for (i, b) in setupHeader.enumerated() where 0x1F1 + i < 0x290 { bytes[0x1F1 + i] = b }
    }

    mutating func put<T: FixedWidthInteger>(_ v: T, at offset: Int) {
        for (i, b) in LinuxLoader.littleEndian(v).enumerated() { bytes[offset + i] = b }
    }

    /// Header fields a bootloader must set (boot.rst, "Details of Header Fields").
    mutating func setLoaderFields(commandLine: UInt64, initrd: UInt64, initrdSize: UInt32) {
        put(UInt16(0xFFFF), at: 0x1FA)           // vid_mode: normal
        bytes[0x210] = 0xFF                      // type_of_loader: undefined
        bytes[0x211] |= 0x80                     // loadflags: CAN_USE_HEAP
        put(UInt16(0xFE00), at: 0x224)           // heap_end_ptr
        put(UInt32(truncatingIfNeeded: commandLine), at: 0x228)  // cmd_line_ptr
        put(UInt32(truncatingIfNeeded: initrd), at: 0x218)       // ramdisk_image
        put(initrdSize, at: 0x21C)                                // ramdisk_size
    }

    /// A zero page for an ELF kernel that has no setup header of its own.
    mutating func setELFDefaults() {
        put(UInt16(0xAA55), at: 0x1FE)           // boot_flag
        bytes[0x202..<0x206] = ArraySlice("HdrS".utf8)
        put(UInt16(0x020F), at: 0x206)           // protocol 2.15
        bytes[0x211] = 0x01                      // LOADED_HIGH
        put(UInt32(0x7FFF_FFFF), at: 0x22C)      // initrd_addr_max
        put(UInt32(2047), at: 0x238)             // cmdline_size
    }

    /// e820_entries (0x1E8) and e820_table (0x2D0, 20 bytes each, up to 128).
    mutating func setE820(_ map: [E820Entry]) {
        bytes[0x1E8] = UInt8(min(map.count, 128))
        for (i, e) in map.prefix(128).enumerated() {
            put(e.address, at: 0x2D0 + i * 20)
            put(e.size, at: 0x2D0 + i * 20 + 8)
            put(e.kind.rawValue, at: 0x2D0 + i * 20 + 16)
        }
    }
}

/// hvm_start_info for the PVH entry (version 1, with the memory map).
enum StartInfo {
    static let magic: UInt32 = 0x336E_C578

    static func bytes(commandLine: UInt64, memmap: UInt64, entries: Int, initrd: UInt64?, initrdSize: UInt32,
                      modlist: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 0x80 + 32)
        func put<T: FixedWidthInteger>(_ v: T, _ o: Int) {
            for (i, x) in LinuxLoader.littleEndian(v).enumerated() { b[o + i] = x }
        }
        put(magic, 0)
        put(UInt32(1), 4)                     // version
        put(UInt32(0), 8)                     // flags
        put(UInt32(initrd == nil ? 0 : 1), 12)  // nr_modules
        put(initrd == nil ? UInt64(0) : modlist, 16)  // modlist_paddr
        put(commandLine, 24)                  // cmdline_paddr
        put(ACPITables.rsdpAddress, 32)       // rsdp_paddr
        put(memmap, 40)                       // memmap_paddr
        put(UInt32(entries), 48)              // memmap_entries
        if let initrd {
            // hvm_modlist_entry at modlist: paddr, size, cmdline_paddr, reserved.
            put(initrd, 0x80)
            put(UInt64(initrdSize), 0x88)
        }
        return b
    }

    /// hvm_memmap_table_entry: addr, size, type, reserved.
    static func memmap(_ map: [E820Entry]) -> [UInt8] {
        var b: [UInt8] = []
        for e in map {
            b += LinuxLoader.littleEndian(e.address) + LinuxLoader.littleEndian(e.size)
            b += LinuxLoader.littleEndian(e.kind.rawValue) + LinuxLoader.littleEndian(UInt32(0))
        }
        return b
    }
}

/// Page tables identity-mapping the first 4 GiB with 2 MiB pages: PML4,
/// one PDPT, four page directories, contiguous from `at`.
enum IdentityPageTables {
    static func build(at base: UInt64) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 6 * 4096)
        func put(_ v: UInt64, _ o: Int) {
            for (i, x) in LinuxLoader.littleEndian(v).enumerated() { b[o + i] = x }
        }
        let present: UInt64 = 0x3  // present | writable
        put(base + 0x1000 | present, 0)  // PML4[0] -> PDPT
        for g in 0..<4 {
            put(base + 0x2000 + UInt64(g) * 0x1000 | present, 0x1000 + g * 8)  // PDPT[g] -> PD g
            for e in 0..<512 {
                let phys = UInt64(g) << 30 | UInt64(e) << 21
                put(phys | present | 0x80, 0x2000 + g * 0x1000 + e * 8)  // PS: 2 MiB page
            }
        }
        return b
    }
}
