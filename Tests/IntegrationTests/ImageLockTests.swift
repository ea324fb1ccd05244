import Foundation
import Testing

/// Image locks against Debian's QEMU: the same OFD lock bytes, so each
/// refuses the other's read-write image, and readers share.
extension KVMGuests {
@Suite("Image locks shared with QEMU")
struct ImageLockTests {
    /// The image's OFD locks, from /proc/locks.
    static func locks(on path: String) -> [String] {
        var st = stat()
        guard stat(path, &st) == 0, let text = try? String(contentsOfFile: "/proc/locks", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init).filter { $0.contains(":\(st.st_ino) ") }
    }

    /// QEMU (TCG, paused) with the image on a virtio-blk device: it takes its locks at start-up.
    func qemu(_ path: String, readOnly: Bool) throws -> GuestProcess {
        try GuestProcess(executable: TestEnvironment.qemu, arguments: [
            "-M", "pc", "-accel", "tcg", "-S", "-display", "none", "-nodefaults",
            "-drive", "file=\(path),format=raw,if=none,id=d0\(readOnly ? ",readonly=on" : "")",
            "-device", "virtio-blk-pci,drive=d0"])
    }

    /// That QEMU, once its locks are taken.
    func startQEMU(_ path: String, readOnly: Bool) throws -> GuestProcess {
        let q = try qemu(path, readOnly: readOnly)
        let deadline = Date().addingTimeInterval(30)
        while Self.locks(on: path).isEmpty && q.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        try #require(!Self.locks(on: path).isEmpty, "QEMU took no locks: \(q.stderr)")
        return q
    }

    func image() throws -> String {
        let path = TestEnvironment.temporaryPath("locked.img")
        #expect(FileManager.default.createFile(atPath: path, contents: Data(count: 1 << 20)))
        return path
    }

    func swiftvmm(_ path: String, readOnly: Bool, extra: String = "") throws -> (status: Int32?, stdout: String, stderr: String) {
        try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"),
                         "-drive", "file=\(path),format=raw,if=virtio\(readOnly ? ",readonly=on" : "")\(extra)"] + debugExitAtF4)
    }

    @Test("QEMU holds it read-write: swiftvmm refuses it, read-write or read-only, as QEMU would; file.locking=off overrides")
    func qemuHolds() throws {
        let path = try image()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let q = try startQEMU(path, readOnly: false)
        defer { q.signal(SIGKILL); _ = q.waitForExit(timeout: 10) }
        let rw = try swiftvmm(path, readOnly: false)
        #expect(rw.status == 1)
        #expect(rw.stderr.contains("Failed to get \"write\" lock. Is another process using the image [\(path)]?"), "\(rw.stderr)")
        let ro = try swiftvmm(path, readOnly: true)
        #expect(ro.status == 1)
        #expect(ro.stderr.contains("Failed to get shared \"write\" lock"), "\(ro.stderr)")
        #expect(try swiftvmm(path, readOnly: true, extra: ",file.locking=off").status == 0x21)
    }

    @Test("swiftvmm holds it read-write: QEMU refuses it with its own message")
    func swiftvmmHolds() throws {
        let path = try image()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let vm = try GuestProcess(executable: TestEnvironment.swiftvmm, arguments: [
            "-bios", TestEnvironment.firmware("ticker.bin"), "-serial", "none", "-S",
            "-drive", "file=\(path),format=raw,if=virtio"])
        defer { vm.signal(SIGTERM); _ = vm.waitForExit(timeout: 10) }
        let deadline = Date().addingTimeInterval(10)
        while Self.locks(on: path).isEmpty && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
        let q = try qemu(path, readOnly: false)
        #expect(q.waitForExit(timeout: 30) == 1)
        #expect(q.stderr.contains("Failed to get \"write\" lock"), "\(q.stderr)")
    }

    @Test("read-only both ways: QEMU and swiftvmm share the image")
    func readersShare() throws {
        let path = try image()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let q = try startQEMU(path, readOnly: true)
        defer { q.signal(SIGKILL); _ = q.waitForExit(timeout: 10) }
        let r = try swiftvmm(path, readOnly: true)
        #expect(r.status == 0x21, "\(r.stderr)")
        // A read-only QEMU still denies writers (share-rw=off), so a writer is refused.
        let w = try swiftvmm(path, readOnly: false)
        #expect(w.status == 1 && w.stderr.contains("Failed to get \"write\" lock"), "\(w.stderr)")
    }
}
}
