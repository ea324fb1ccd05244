/// Disk image formats recognised by their magic (the probes of QEMU's block
/// drivers and the formats' own specifications), so that a non-raw image
/// given without `format=` is never attached as raw: its guest would write
/// over the format's metadata (a qcow2 file's header, L1 table ...).
public enum ImageFormat {
    /// How many leading bytes `detect` looks at.
    public static let probeSize = 512

    /// The format `header` (the image's first bytes) announces, or nil when
    /// it is none of them (raw).
    public static func detect(_ header: [UInt8]) -> String? {
        func at(_ offset: Int, _ magic: [UInt8]) -> Bool {
            offset + magic.count <= header.count && Array(header[offset..<offset + magic.count]) == magic
        }
        func ascii(_ s: String) -> [UInt8] { Array(s.utf8) }
        if at(0, [0x51, 0x46, 0x49, 0xFB]) {  // "QFI\xfb", then a big-endian version
            return header.count >= 8 && header[4...7] == [0, 0, 0, 1] ? "qcow" : "qcow2"
        }
        if at(0, [0x51, 0x45, 0x44, 0x00]) { return "qed" }                     // "QED\0"
        if at(0, [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE]) { return "luks" }        // "LUKS\xba\xbe"
        if at(0x40, [0x7F, 0x10, 0xDA, 0xBE]) { return "vdi" }                  // 0xbeda107f, little-endian
        if at(0, ascii("vhdxfile")) { return "vhdx" }
        if at(0, ascii("conectix")) { return "vpc" }
        if at(0, ascii("KDMV")) || at(0, ascii("COWD")) || at(0, ascii("# Disk DescriptorFile")) { return "vmdk" }
        if at(0, ascii("WithoutFreeSpace")) || at(0, ascii("WithouFreSpacExt")) { return "parallels" }
        return nil
    }
}
