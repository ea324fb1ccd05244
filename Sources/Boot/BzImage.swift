/// A bzImage's real-mode header, validated (Documentation/arch/x86/boot.rst,
/// "The Real-Mode Kernel Header"). Every field is checked before use; a
/// field that is absent in the file's protocol version is not read.
public struct BzImage: Equatable, Sendable {
    /// Boot protocol 2.06 added cmdline_size, which we need.
    public static let minimumProtocol: UInt16 = 0x0206
    static let headerMagic: [UInt8] = Array("HdrS".utf8)

    public let protocolVersion: UInt16
    /// Offset in the file of the protected-mode kernel.
    public let kernelOffset: Int
    public let kernelSize: Int
    /// The setup header bytes (file offsets 0x1F1 up to the header's end),
    /// copied into the zero page.
    public let setupHeader: [UInt8]
    public let loadFlags: UInt8
    public let xloadFlags: UInt16
    public let relocatable: Bool
    public let kernelAlignment: UInt32
    public let preferredAddress: UInt64
    public let initSize: UInt32
    public let commandLineSize: UInt32
    public let initrdAddressMax: UInt32

    /// Is this file a bzImage at all ("HdrS" at 0x202)?
    public static func matches(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 0x206 && Array(bytes[0x202..<0x206]) == headerMagic
    }

    public init(bytes b: [UInt8], path: String) throws(BootError) {
        guard BzImage.matches(b) else { throw .notAKernel(path: path) }
        func u8(_ o: Int) -> UInt8 { b[o] }
        func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        func u64(_ o: Int) -> UInt64 { UInt64(u32(o)) | UInt64(u32(o + 4)) << 32 }

        protocolVersion = u16(0x206)
        guard protocolVersion >= BzImage.minimumProtocol else {
            throw .unsupportedKernel(path: path, why: "boot protocol \(BzImage.versionText(protocolVersion)) is older than 2.06")
        }
        // The header's length is in the byte at 0x201 (offset of its end - 0x202).
        let headerEnd = 0x202 + Int(u8(0x201))
        guard b.count >= max(headerEnd, 0x268) else {
            throw .truncatedKernel(path: path, what: "the setup header needs \(max(headerEnd, 0x268)) bytes, the file has \(b.count)")
        }
        setupHeader = Array(b[0x1F1..<headerEnd])
        var setupSectors = Int(u8(0x1F1))
        if setupSectors == 0 { setupSectors = 4 }
        kernelOffset = (setupSectors + 1) * 512
        let syssize = Int(u32(0x1F4)) * 16  // protected-mode code size, 16-byte paragraphs
        guard syssize > 0, b.count >= kernelOffset + syssize else {
            throw .truncatedKernel(path: path, what: "setup (\(kernelOffset) bytes) and kernel (\(syssize) bytes) need \(kernelOffset + syssize), the file has \(b.count)")
        }
        kernelSize = b.count - kernelOffset
        loadFlags = u8(0x211)
        guard loadFlags & 0x01 != 0 else {
            throw .unsupportedKernel(path: path, why: "not a bzImage (LOADED_HIGH clear: a zImage)")
        }
        initrdAddressMax = u32(0x22C)
        kernelAlignment = u32(0x230)
        relocatable = u8(0x234) != 0
        commandLineSize = u32(0x238)
        xloadFlags = protocolVersion >= 0x020C ? u16(0x236) : 0
        guard xloadFlags & 0x01 != 0 else {
            throw .unsupportedKernel(path: path, why: "no 64-bit entry point (XLF_KERNEL_64 clear)")
        }
        preferredAddress = protocolVersion >= 0x020A ? u64(0x258) : 0x10_0000
        initSize = protocolVersion >= 0x020A ? u32(0x260) : UInt32(kernelSize * 4)
        guard preferredAddress >= 0x10_0000, preferredAddress < (1 << 32), initSize > 0 else {
            throw .unsupportedKernel(path: path, why: "pref_address 0x\(String(preferredAddress, radix: 16)) or init_size \(initSize) out of range")
        }
    }
}

extension BzImage {
    /// "2.15" for 0x020F.
    static func versionText(_ v: UInt16) -> String {
        let minor = v & 0xFF
        return "\(v >> 8).\(minor < 10 ? "0" : "")\(minor)"
    }
}
