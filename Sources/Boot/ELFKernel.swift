/// An ELF kernel, validated: an ELF64 x86-64 one (vmlinux) or an ELF32 i386
/// one, its loadable segments (by physical address), its entry, and the
/// PVH entry from the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY when present
/// (xen/include/public/elfnote.h). A 32-bit ELF has no 64-bit entry, so it
/// must have the PVH note (as QEMU's -kernel requires of it too).
public struct ELFKernel: Equatable, Sendable {
    public struct Segment: Equatable, Sendable {
        public let physicalAddress: UInt64
        public let fileOffset: Int
        public let fileSize: Int
        public let memorySize: UInt64
    }

    static let magic: [UInt8] = [0x7F, 0x45, 0x4C, 0x46]
    static let xenNoteName: [UInt8] = Array("Xen\0".utf8)
    static let phys32EntryNote: UInt32 = 18
    static let linuxNoteName: [UInt8] = Array("Linux\0".utf8)

    public let entry: UInt64
    public let pvhEntry: UInt32?
    public let segments: [Segment]
    /// ELFCLASS32: only the PVH entry can start it.
    public let is32Bit: Bool
    /// It carries a note owned by "Linux" (include/linux/elfnote.h, e.g.
    /// LINUX_ELFNOTE_BUILD_SALT): a Linux vmlinux.
    public let isLinux: Bool

    public static func matches(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && Array(bytes[0..<4]) == magic
    }

    public init(bytes b: [UInt8], path: String) throws(BootError) {
        guard ELFKernel.matches(b) else { throw .notAKernel(path: path) }
        guard b.count >= 64 else { throw .truncatedKernel(path: path, what: "the ELF header needs 64 bytes") }
        func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        guard b[4] == 1 || b[4] == 2, b[5] == 1 else {
            throw .unsupportedKernel(path: path, why: "not a little-endian ELF32 or ELF64 file")
        }
        let wide = b[4] == 2
        is32Bit = !wide
        let machine = u16(18)
        guard machine == (wide ? 62 : 3) else {
            throw .unsupportedKernel(path: path, why: "ELF machine \(machine) is not \(wide ? "x86-64" : "i386")")
        }
        guard u16(16) == 2 else { throw .unsupportedKernel(path: path, why: "not an executable ELF file (type \(u16(16)))") }
        // ELF64 / ELF32 header fields (System V ABI, "ELF Header").
        entry = wide ? u64(24) : UInt64(u32(24))
        let phoff = wide ? u64(32) : UInt64(u32(28))
        let phentsize = Int(u16(wide ? 54 : 42))
        let phnum = Int(u16(wide ? 56 : 44))
        guard phentsize >= (wide ? 56 : 32), phnum > 0, phnum <= 128 else {
            throw .unsupportedKernel(path: path, why: "bad program header table (\(phnum) entries of \(phentsize) bytes)")
        }
        let (tableEnd, o1) = phoff.addingReportingOverflow(UInt64(phentsize * phnum))
        guard !o1, tableEnd <= UInt64(b.count) else {
            throw .truncatedKernel(path: path, what: "the program header table lies past the end of the file")
        }
        var segments: [Segment] = []
        var pvh: UInt32?
        var linux = false
        for i in 0..<phnum {
            let h = Int(phoff) + i * phentsize
            let type = u32(h)
            // Program header fields: p_offset, p_paddr, p_filesz, p_memsz.
            let offset = wide ? u64(h + 8) : UInt64(u32(h + 4))
            let paddr = wide ? u64(h + 24) : UInt64(u32(h + 12))
            let filesz = wide ? u64(h + 32) : UInt64(u32(h + 16))
            let memsz = wide ? u64(h + 40) : UInt64(u32(h + 20))
            let (end, o2) = offset.addingReportingOverflow(filesz)
            guard !o2, end <= UInt64(b.count) else {
                throw .truncatedKernel(path: path, what: "segment \(i) ends at byte \(end), the file has \(b.count)")
            }
            switch type {
            case 1:  // PT_LOAD
                let (_, o3) = paddr.addingReportingOverflow(memsz)
                guard !o3, memsz >= filesz else {
                    throw .unsupportedKernel(path: path, why: "segment \(i) has a bad size or address")
                }
                segments.append(Segment(physicalAddress: paddr, fileOffset: Int(offset), fileSize: Int(filesz), memorySize: memsz))
            case 4:  // PT_NOTE
                for note in ELFKernel.notes(b, offset: Int(offset), size: Int(filesz)) {
                    if note.type == ELFKernel.phys32EntryNote, note.name == ELFKernel.xenNoteName, note.desc.count >= 4 {
                        pvh = pvh ?? (UInt32(b[note.desc.lowerBound]) | UInt32(b[note.desc.lowerBound + 1]) << 8
                                      | UInt32(b[note.desc.lowerBound + 2]) << 16 | UInt32(b[note.desc.lowerBound + 3]) << 24)
                    }
                    if note.name == ELFKernel.linuxNoteName { linux = true }
                }
            default:
                break
            }
        }
        if !wide && pvh == nil {
            throw .unsupportedKernel(path: path, why: "a 32-bit ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)")
        }
        isLinux = linux
        guard !segments.isEmpty else { throw .unsupportedKernel(path: path, why: "no loadable segment") }
        self.segments = segments
        pvhEntry = pvh
    }

    /// The ELF notes in [offset, offset+size): owner name (with its NUL),
    /// type, and where the descriptor lies. Stops at the first malformed one.
    static func notes(_ b: [UInt8], offset: Int, size: Int) -> [(name: [UInt8], type: UInt32, desc: Range<Int>)] {
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        var found: [(name: [UInt8], type: UInt32, desc: Range<Int>)] = []
        var p = offset
        let end = offset + size
        while p + 12 <= end {
            let nameSize = Int(u32(p)), descSize = Int(u32(p + 4)), type = u32(p + 8)
            guard nameSize <= size, descSize <= size else { break }
            let name = p + 12
            let desc = name + (nameSize + 3) & ~3
            let next = desc + (descSize + 3) & ~3
            guard next <= end else { break }
            found.append((Array(b[name..<name + nameSize]), type, desc..<desc + descSize))
            p = next
        }
        return found
    }
}
