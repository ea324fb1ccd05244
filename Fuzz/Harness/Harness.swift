import Boot
import CommandLineOptions
import Control
import Devices
import Glibc
import Memory

/// libFuzzer targets for the parsers of outside input (issue 15, item 7).
/// One binary, the target chosen by FUZZ_TARGET. Built two ways:
/// - `make fuzz`: with -sanitize=fuzzer,address and -D FUZZING, libFuzzer
///   drives `LLVMFuzzerTestOneInput` from the seed corpus in Fuzz/corpus/TARGET;
/// - a normal build: `swiftvmm-fuzz TARGET FILE...` replays inputs once
///   each (`make test` replays the committed corpus, crash reproducers included).
enum Harness {
    static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "qmp-json": qmpJSON, "command-line": commandLine, "kernel": kernel, "virtio-blk": virtioBlock,
    ]

    /// The QMP stream splitter and JSON parser on arbitrary bytes, in pieces.
    static func qmpJSON(_ data: [UInt8]) {
        var splitter = JSONStreamSplitter(limit: 4096)
        for piece in stride(from: 0, to: data.count, by: 7).map({ Array(data[$0..<min($0 + 7, data.count)]) }) {
            for message in splitter.feed(piece) {
                if case .complete(let bytes) = message, let value = try? JSONParser.parse(bytes) { _ = value.serialized }
            }
        }
    }

    /// The command line: NUL-separated arguments.
    static func commandLine(_ data: [UInt8]) {
        let args = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        _ = try? CommandLineParser().parse(args)
    }

    /// The Linux loader (bzImage, ELF64/ELF32, PVH notes) on a kernel image.
    static func kernel(_ data: [UInt8]) {
        _ = try? LinuxLoader.plan(kernelPath: "fuzz", kernel: data, commandLine: "console=ttyS0", initrdPath: nil,
                                  initrd: nil, ramSize: 64 << 20)
    }

    /// The split virtqueue walker and virtio-blk's request parser: the input
    /// is guest memory (descriptors, rings, headers); the queue sits at fixed
    /// addresses and every available entry is served.
    static func virtioBlock(_ data: [UInt8]) {
        guard let memory = try? GuestMemory(ramSize: 1 << 20) else { return }
        try? memory.write(Array(data.prefix(1 << 20)), at: GuestAddress(0))
        let layout = VirtqueueLayout(size: 16, descriptorTable: GuestAddress(0x1000), availableRing: GuestAddress(0x2000),
                                     usedRing: GuestAddress(0x3000))
        guard let queue = try? SplitVirtqueue(layout: layout, maximumSize: 256, memory: memory,
                                              indirectDescriptors: true, eventIndex: true) else { return }
        let device = VirtioBlock(backend: MemoryDisk(), serial: "fuzz")
        device.activate(queues: [queue], features: device.offeredFeatures, memory: memory, interrupt: NoInterrupt())
        device.processQueue()
    }

    final class MemoryDisk: BlockBackend, @unchecked Sendable {
        // Only the fuzzing thread touches it.
        var bytes = [UInt8](repeating: 0, count: 64 << 10)
        var size: UInt64 { UInt64(bytes.count) }
        var readOnly: Bool { false }
        func read(at offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Bool {
            for i in 0..<buffer.count { buffer[i] = bytes[Int(offset) + i] }
            return true
        }
        func write(at offset: UInt64, from buffer: UnsafeRawBufferPointer) -> Bool {
            for i in 0..<buffer.count { bytes[Int(offset) + i] = buffer[i] }
            return true
        }
        func flush() -> Bool { true }
        func discard(at offset: UInt64, length: UInt64) -> Bool { true }
        func writeZeroes(at offset: UInt64, length: UInt64) -> Bool { true }
    }

    struct NoInterrupt: VirtioInterrupt {
        func notifyQueue(_ index: Int) {}
        func notifyConfigChange() {}
    }
}

#if FUZZING
let chosen: @Sendable ([UInt8]) -> Void = {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = Harness.targets[name] else {
        print("swiftvmm-fuzz: set FUZZ_TARGET to one of \(Harness.targets.keys.sorted())")
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    chosen(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// libFuzzer's entry for a program with its own main (FuzzerInterface.h).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's main as `<module>_main`: hand it to libFuzzer.
@_cdecl("swiftvmm_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var vector = argv
    return LLVMFuzzerRunDriver(&count, &vector) { data, size in fuzzOne(data, size) }
}
#else
@main
struct Replay {
    static func main() {
        let args = CommandLine.arguments.dropFirst()
        guard let name = args.first, let target = Harness.targets[name] else {
            print("usage: swiftvmm-fuzz TARGET FILE... (targets: \(Harness.targets.keys.sorted().joined(separator: ", ")))")
            exit(2)
        }
        var count = 0
        for path in args.dropFirst() {
            guard case .contents(let bytes)? = try? FileReader.read(path, limit: 16 << 20) else {
                print("swiftvmm-fuzz: cannot read \(path)")
                exit(1)
            }
            target(bytes)
            count += 1
        }
        print("swiftvmm-fuzz: \(name): \(count) inputs replayed, no crash")
    }
}
#endif
