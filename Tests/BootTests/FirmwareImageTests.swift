import Boot
import Glibc
import Memory
import Testing

@Suite("Firmware image")
struct FirmwareImageTests {
    @Test("a 64 KiB image ends at 4 GiB and is copied to 0xF0000")
    func layout64K() throws {
        var bytes = [UInt8](repeating: 0x90, count: 64 << 10)
        bytes[bytes.count - 16] = 0xEA
        let f = try FirmwareImage(bytes: bytes, path: "bios.bin")
        #expect(f.romBase == GuestAddress(0xFFFF_0000))
        #expect(f.romContents.count == 64 << 10)
        #expect(f.lowBase == GuestAddress(0xF0000))
        #expect(f.lowContents == bytes)
        // The reset vector (0xFFFFFFF0) holds the image's last 16 bytes.
        #expect(f.romContents[Int(0xFFFF_FFF0 - f.romBase.rawValue)] == 0xEA)
    }

    @Test("a 256 KiB image: only its last 128 KiB appear below 1 MiB")
    func layout256K() throws {
        let bytes = (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 >> 10) }
        let f = try FirmwareImage(bytes: bytes, path: "bios.bin")
        #expect(f.romBase == GuestAddress(0xFFFC_0000))
        #expect(f.lowBase == GuestAddress(0xE0000))
        #expect(f.lowContents == Array(bytes.suffix(128 << 10)))
    }

    @Test("an image that is not a page multiple is right-aligned in its page-rounded ROM")
    func unaligned() throws {
        let f = try FirmwareImage(bytes: [1, 2, 3], path: "tiny.bin")
        #expect(f.romBase == GuestAddress(0xFFFF_F000))
        #expect(f.romContents.count == 4096)
        #expect(Array(f.romContents.suffix(3)) == [1, 2, 3])
        #expect(f.romContents[0] == 0xFF)
        #expect(f.lowBase == GuestAddress(0xFFFFD))
    }

    @Test("empty and oversized images are refused with the path")
    func refusals() {
        #expect(throws: BootError.emptyImage(path: "e.bin")) { _ = try FirmwareImage(bytes: [], path: "e.bin") }
        #expect(throws: BootError.imageTooLarge(path: "b.bin", size: (16 << 20) + 1, limit: 16 << 20)) {
            _ = try FirmwareImage(bytes: [UInt8](repeating: 0, count: (16 << 20) + 1), path: "b.bin")
        }
        #expect(BootError.emptyImage(path: "e.bin").description == "firmware image 'e.bin' is empty")
    }

    @Test("missing files and directories are read errors naming the path")
    func readErrors() {
        #expect(throws: BootError.cannotRead(path: "/nonexistent", errno: ENOENT)) {
            _ = try FirmwareImage.load(path: "/nonexistent")
        }
        #expect(throws: BootError.notARegularFile(path: "/", kind: "a directory")) { _ = try FirmwareImage.load(path: "/") }
        #expect(BootError.cannotRead(path: "/x", errno: ENOENT).description == "cannot read '/x': No such file or directory")
    }

    @Test("the low copy lands in RAM and refuses RAM that is too small")
    func lowCopy() throws {
        let f = try FirmwareImage(bytes: [UInt8](repeating: 0xAB, count: 4096), path: "b")
        let m = try GuestMemory(ramSize: 2 << 20)
        try f.installLowCopy(in: m)
        #expect(try m.load(UInt8.self, at: GuestAddress(0xFFFFF)) == 0xAB)
        #expect(try m.load(UInt8.self, at: GuestAddress(0xFEFFF)) == 0)
    }

    @Test("the reset state fetches its first instruction at 0xFFFFFFF0")
    func resetVector() {
        let s = ResetState()
        #expect(s.firstFetchAddress == 0xFFFF_FFF0)
        #expect(s.cs.selector == 0xF000)
        #expect(s.cr0 == 0x6000_0010)
    }
}
