import Foundation
import Synchronization
import Testing

/// An expect-style handle on a running program (swiftvmm or QEMU): read its
/// output as it comes, wait for text with a timeout, send input, collect the
/// exit status. Later boot tests reuse it.
final class GuestProcess: @unchecked Sendable {
    // `process` and the pipes are set up in init and then only used through
    // thread-safe calls; the output buffers are behind a Mutex.
    private let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let output = OutputBuffer()

    init(executable: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        stdoutPipe.fileHandleForReading.readabilityHandler = { [output] h in
            let d = h.availableData
            output.state.withLock { $0.stdout.append(d) }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [output] h in
            let d = h.availableData
            output.state.withLock { $0.stderr.append(d) }
        }
        try process.run()
    }

    var stdout: String { output.state.withLock { String(decoding: $0.stdout, as: UTF8.self) } }
    var stderr: String { output.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }
    var processID: Int32 { process.processIdentifier }

    /// The exit status once the program has ended. Reaped here with
    /// waitpid(WNOHANG): Foundation's own child monitoring was seen to leave
    /// children of the test process as zombies (a VM in a test netns, its
    /// netconsole listener), and then `isRunning` stays true and
    /// `waitUntilExit` never returns.
    private let reaped = Mutex<Int32?>(nil)

    var isRunning: Bool { exitStatus == nil }

    var exitStatus: Int32? {
        if let s = reaped.withLock({ $0 }) { return s }
        var status: Int32 = 0
        let r = waitpid(process.processIdentifier, &status, WNOHANG)
        if r == process.processIdentifier {
            // WIFEXITED: the exit code; else 128 + the signal, as a shell says it.
            let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            reaped.withLock { $0 = code }
            return code
        }
        if r < 0 && errno == ECHILD && !process.isRunning {
            // Foundation reaped it first.
            let code = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
            reaped.withLock { $0 = code }
            return code
        }
        return nil
    }

    /// Waits until stdout contains `text`; false on timeout or exit.
    func expect(_ text: String, timeout: Double = 30) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if stdout.contains(text) { return true }
            if !isRunning {
                Thread.sleep(forTimeInterval: 0.05)  // let the last output arrive
                return stdout.contains(text)
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return false
    }

    func send(_ text: String) {
        stdinPipe.fileHandleForWriting.write(Data(text.utf8))
    }

    func closeInput() {
        try? stdinPipe.fileHandleForWriting.close()
    }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// The exit status, or nil if it did not end in time (then it is killed).
    func waitForExit(timeout: Double = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if isRunning {
            kill(process.processIdentifier, SIGKILL)
            let killed = Date().addingTimeInterval(10)
            while isRunning && Date() < killed { Thread.sleep(forTimeInterval: 0.01) }
            return nil
        }
        Thread.sleep(forTimeInterval: 0.05)  // drain the pipes
        return exitStatus
    }

    deinit {
        if isRunning { kill(process.processIdentifier, SIGKILL) }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }
}

/// What a program has printed so far, filled from the pipe handlers' threads.
final class OutputBuffer: Sendable {
    let state = Mutex((stdout: Data(), stderr: Data()))
}

/// Where the built binary and firmware are (set by `make test`).
enum TestEnvironment {
    static let hasKVM = FileManager.default.fileExists(atPath: "/dev/kvm")

    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static var swiftvmm: String {
        ProcessInfo.processInfo.environment["SWIFTVMM"]
            ?? packageRoot.appendingPathComponent(".build/release/swiftvmm").path
    }

    static func firmware(_ name: String) -> String {
        let dir = ProcessInfo.processInfo.environment["FIRMWARE_DIR"]
            ?? packageRoot.appendingPathComponent("Firmware/build").path
        return dir + "/" + name
    }

    static let qemu = "/usr/bin/qemu-system-x86_64"

    /// kvm_pvm emulates guest ring 0 and cannot emulate some instructions.
    static let hostIsPVM = FileManager.default.fileExists(atPath: "/sys/module/kvm_pvm")

    /// A file `make TARGET` builds into Firmware/build/FOLDER, or a failed
    /// requirement saying which target makes it.
    static func requireBuilt(_ folder: String, _ file: String, target: String) throws -> String {
        let path = firmware(folder) + "/" + file
        try #require(FileManager.default.fileExists(atPath: path), "\(path) is missing: run `make \(target)`")
        return path
    }

    static func temporaryPath(_ name: String) -> String {
        NSTemporaryDirectory() + "swiftvmm-test-\(getpid())-\(UUID().uuidString.prefix(8))-" + name
    }
}

/// Runs swiftvmm with `arguments` to completion.
func runSwiftVMM(_ arguments: [String], input: String? = nil, timeout: Double = 60) throws
    -> (status: Int32?, stdout: String, stderr: String) {
    let p = try GuestProcess(executable: TestEnvironment.swiftvmm, arguments: arguments)
    if let input { p.send(input) }
    p.closeInput()
    let status = p.waitForExit(timeout: timeout)
    return (status, p.stdout, p.stderr)
}

let debugExitAtF4 = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
