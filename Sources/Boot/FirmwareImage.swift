import Memory

/// A flat firmware image (`-bios FILE`) placed as on a PC (and as QEMU's pc
/// machine does): the image ends at 4 GiB, so its last 16 bytes hold the reset
/// vector at 0xFFFFFFF0, and its last 128 KiB also appear below 1 MiB at
/// 0xE0000-0xFFFFF (the legacy BIOS area), copied into RAM there.
public struct FirmwareImage: Equatable, Sendable {
    /// The largest image accepted: 16 MiB, the flash window below 4 GiB.
    public static let maximumSize = 16 << 20
    /// The legacy BIOS window below 1 MiB.
    public static let lowWindowSize = 128 << 10
    public static let lowWindowEnd: UInt64 = 0x10_0000

    /// The ROM region, page-aligned, image right-aligned inside it.
    public let romBase: GuestAddress
    public let romContents: [UInt8]
    /// The copy below 1 MiB.
    public let lowBase: GuestAddress
    public let lowContents: [UInt8]

    /// Validates `bytes` read from `path` and lays them out.
    public init(bytes: [UInt8], path: String) throws(BootError) {
        guard !bytes.isEmpty else { throw .emptyImage(path: path) }
        guard bytes.count <= FirmwareImage.maximumSize else {
            throw .imageTooLarge(path: path, size: bytes.count, limit: FirmwareImage.maximumSize)
        }
        let aligned = (bytes.count + 0xFFF) & ~0xFFF
        romContents = [UInt8](repeating: 0xFF, count: aligned - bytes.count) + bytes
        romBase = GuestAddress((1 << 32) - UInt64(aligned))
        let lowCount = min(bytes.count, FirmwareImage.lowWindowSize)
        lowContents = Array(bytes.suffix(lowCount))
        lowBase = GuestAddress(FirmwareImage.lowWindowEnd - UInt64(lowCount))
    }

    /// Reads and validates the image at `path`.
    public static func load(path: String) throws(BootError) -> FirmwareImage {
        switch try FileReader.read(path, limit: maximumSize) {
        case .tooLarge(let size): throw .imageTooLarge(path: path, size: size, limit: maximumSize)
        case .contents(let bytes): return try FirmwareImage(bytes: bytes, path: path)
        }
    }

    /// Copies the low window into guest RAM (at load and at every reset,
    /// since the guest may have written over it).
    public func installLowCopy(in memory: GuestMemory) throws(BootError) {
        do {
            try memory.write(lowContents, at: lowBase)
        } catch {
            throw .ramTooSmall(needed: FirmwareImage.lowWindowEnd, available: memory.ramSize)
        }
    }
}
