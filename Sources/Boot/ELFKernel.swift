/// An ELF64 x86-64 kernel (vmlinux), validated: its loadable segments (by
/// physical address), its entry, and the PVH entry from the Xen ELF note
/// XEN_ELFNOTE_PHYS32_ENTRY when present (xen/include/public/elfnote.h).
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

    public let entry: UInt64
    public let pvhEntry: UInt32?
    public let segments: [Segment]

    public static func matches(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && Array(bytes[0..<4]) == magic
    }

    public init(bytes b: [UInt8], path: String) throws(BootError) {
        guard ELFKernel.matches(b) else { throw .notAKernel(path: path) }
        guard b.count >= 64 else { throw .truncatedKernel(path: path, what: "the ELF header needs 64 bytes") }
        func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }
        guard b[4] == 2, b[5] == 1 else {
            throw .unsupportedKernel(path: path, why: "not a 64-bit little-endian ELF file")
        }
        guard u16(18) == 62 else { throw .unsupportedKernel(path: path, why: "ELF machine \(u16(18)) is not x86-64") }
        guard u16(16) == 2 else { throw .unsupportedKernel(path: path, why: "not an executable ELF file (type \(u16(16)))") }
        entry = u64(24)
        let phoff = u64(32)
        let phentsize = Int(u16(54))
        let phnum = Int(u16(56))
        guard phentsize >= 56, phnum > 0, phnum <= 128 else {
            throw .unsupportedKernel(path: path, why: "bad program header table (\(phnum) entries of \(phentsize) bytes)")
        }
        let (tableEnd, o1) = phoff.addingReportingOverflow(UInt64(phentsize * phnum))
        guard !o1, tableEnd <= UInt64(b.count) else {
            throw .truncatedKernel(path: path, what: "the program header table lies past the end of the file")
        }
        var segments: [Segment] = []
        var pvh: UInt32?
        for i in 0..<phnum {
            let h = Int(phoff) + i * phentsize
            let type = u32(h)
            let offset = u64(h + 8)
            let paddr = u64(h + 24)
            let filesz = u64(h + 32)
            let memsz = u64(h + 40)
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
                pvh = pvh ?? ELFKernel.findPVHEntry(b, offset: Int(offset), size: Int(filesz))
            default:
                break
            }
        }
        guard !segments.isEmpty else { throw .unsupportedKernel(path: path, why: "no loadable segment") }
        self.segments = segments
        pvhEntry = pvh
    }

    /// Walks the ELF notes in [offset, offset+size) for Xen's PHYS32_ENTRY.
    static func findPVHEntry(_ b: [UInt8], offset: Int, size: Int) -> UInt32? {
        func u32(_ o: Int) -> UInt32 { UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24 }
        var p = offset
        let end = offset + size
        while p + 12 <= end {
            let nameSize = Int(u32(p)), descSize = Int(u32(p + 4)), type = u32(p + 8)
            let name = p + 12
            let desc = name + (nameSize + 3) & ~3
            let next = desc + (descSize + 3) & ~3
            guard nameSize <= size, descSize <= size, next <= end else { return nil }
            if type == phys32EntryNote, nameSize == 4, Array(b[name..<name + 4]) == xenNoteName, descSize >= 4 {
                return u32(desc)
            }
            p = next
        }
        return nil
    }
}
