@testable import Devices
import Foundation
import Testing

/// Image formats by their magic, and the block-0 guard of a probed raw image.
@Suite("Image format probing")
struct ImageFormatTests {
    static func header(_ bytes: [UInt8], at offset: Int = 0) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        h.replaceSubrange(offset..<offset + bytes.count, with: bytes)
        return h
    }

    @Test("qcow2, qcow, qed, vdi, vmdk, vhdx, vpc, luks, parallels are recognised; zeros and an MBR are raw")
    func magics() {
        #expect(ImageFormat.detect(Self.header([0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])) == "qcow2")
        #expect(ImageFormat.detect(Self.header([0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 1])) == "qcow")
        #expect(ImageFormat.detect(Self.header(Array("QED\0".utf8))) == "qed")
        #expect(ImageFormat.detect(Self.header([0x7F, 0x10, 0xDA, 0xBE], at: 0x40)) == "vdi")
        #expect(ImageFormat.detect(Self.header(Array("KDMV".utf8))) == "vmdk")
        #expect(ImageFormat.detect(Self.header(Array("# Disk DescriptorFile\n".utf8))) == "vmdk")
        #expect(ImageFormat.detect(Self.header(Array("vhdxfile".utf8))) == "vhdx")
        #expect(ImageFormat.detect(Self.header(Array("conectix".utf8))) == "vpc")
        #expect(ImageFormat.detect(Self.header([0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE, 0, 1])) == "luks")
        #expect(ImageFormat.detect(Self.header(Array("WithoutFreeSpace".utf8))) == "parallels")
        #expect(ImageFormat.detect(Self.header([])) == nil)
        #expect(ImageFormat.detect(Self.header([0x55, 0xAA], at: 510)) == nil)
        #expect(ImageFormat.detect([0x51, 0x46]) == nil)  // too short to say
    }

    @Test("a probed raw image refuses a write that would make block 0 a qcow2 header; other writes pass")
    func blockZeroGuard() throws {
        let path = NSTemporaryDirectory() + "swiftvmm-probe-\(getpid())-\(UUID().uuidString.prefix(6)).img"
        try Data(count: 4096).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let qcow2Magic: [UInt8] = [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3]
        do {
            let probed = try RawFileBackend(path: path, readOnly: false, formatProbed: true)
            #expect(!qcow2Magic.withUnsafeBytes { probed.write(at: 0, from: $0) })
            #expect(probed.header().prefix(8).allSatisfy { $0 == 0 })
            #expect([UInt8](repeating: 0xAB, count: 512).withUnsafeBytes { probed.write(at: 0, from: $0) })
            #expect(qcow2Magic.withUnsafeBytes { probed.write(at: 512, from: $0) })  // past block 0
        }
        // format=raw given: the user's choice, no guard (as QEMU).
        let explicit = try RawFileBackend(path: path, readOnly: false)
        #expect(qcow2Magic.withUnsafeBytes { explicit.write(at: 0, from: $0) })
        #expect(ImageFormat.detect(explicit.header()) == "qcow2")
    }
}
