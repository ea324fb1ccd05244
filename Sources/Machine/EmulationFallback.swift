import KVM
import Memory
import Synchronization

/// Instructions a host's in-kernel emulator refuses in guest ring 0 and the
/// VMM completes itself. On kvm_pvm (docs/linux-guest.md, "Host quirks")
/// KVM_RUN ends with KVM_EXIT_INTERNAL_ERROR / emulation failure on them;
/// the vCPU thread decodes the bytes at RIP against this table and, on an
/// exact match, does what the CPU would have done. Anything else keeps the
/// clear failure report: no length is ever guessed, prefixes are not
/// decoded, and each use is counted.
public enum EmulationFallback: Int, CaseIterable, Sendable {
    /// `int3` (CC): a trap, so RIP moves past it and #BP is raised there.
    case int3
    /// `clac` (0F 01 CA) / `stac` (0F 01 CB): clear or set RFLAGS.AC; CPL 0 only.
    case clac, stac
    /// `fwait` (9B): nothing to do unless an unmasked x87 exception is
    /// pending (FSW.ES), which raises #MF instead.
    case fwait

    /// The exact bytes of each instruction (Intel SDM Vol. 2).
    static let encodings: [(bytes: [UInt8], fallback: EmulationFallback)] = [
        ([0xCC], .int3), ([0x0F, 0x01, 0xCA], .clac), ([0x0F, 0x01, 0xCB], .stac), ([0x9B], .fwait),
    ]

    /// The longest encoding: how many bytes the decoder needs.
    static let longestEncoding = encodings.map(\.bytes.count).max() ?? 1

    public var name: String {
        switch self {
        case .int3: "int3"
        case .clac: "clac"
        case .stac: "stac"
        case .fwait: "fwait"
        }
    }

    /// The instruction `code` starts with, and its length; nil if it is not
    /// one this table knows exactly.
    public static func decode(_ code: some Collection<UInt8>) -> (fallback: EmulationFallback, length: Int)? {
        for e in encodings where code.starts(with: e.bytes) { return (e.fallback, e.bytes.count) }
        return nil
    }

    static let alignmentCheckFlag: UInt64 = 1 << 18
    static let breakpointVector: UInt8 = 3
    static let floatingPointErrorVector: UInt8 = 16
    /// FSW bit 7, ES: an unmasked x87 exception is pending.
    static let fswErrorSummary: UInt16 = 1 << 7
}

/// How often each fallback ran, over all vCPUs (atomics: every vCPU thread
/// may complete one at the same time). Read by QMP query-stats.
public final class EmulationFallbackCounters: Sendable {
    private final class Counter: Sendable { let value = Atomic<UInt64>(0) }
    private let counters = EmulationFallback.allCases.map { _ in Counter() }

    public init() {}

    /// Counts one use; true when it is the first of its kind.
    @discardableResult
    func count(_ f: EmulationFallback) -> Bool {
        counters[f.rawValue].value.wrappingAdd(1, ordering: .relaxed).oldValue == 0
    }

    public func value(_ f: EmulationFallback) -> UInt64 { counters[f.rawValue].value.load(ordering: .relaxed) }

    /// (name, count) for every fallback, in table order.
    public var all: [(name: String, count: UInt64)] { EmulationFallback.allCases.map { ($0.name, value($0)) } }
}

extension EmulationFallback {
    /// Completes the instruction at the vCPU's RIP if the table has it:
    /// reads its bytes through KVM_TRANSLATE and guest memory, updates the
    /// registers, queues the exception it raises. Returns what it did and
    /// the instruction's RIP, or nil (nothing changed) when the bytes are not
    /// one it knows or the vCPU state cannot be read.
    static func complete(vcpu: VCPU, memory: GuestMemory) -> (fallback: EmulationFallback, rip: UInt64)? {
        guard var regs = try? vcpu.registers(), let sregs = try? vcpu.specialRegisters() else { return nil }
        let longMode64 = sregs.efer & (1 << 10) != 0 && sregs.cs.l != 0
        let ipMask: UInt64 = longMode64 ? ~0 : sregs.cs.db != 0 ? 0xFFFF_FFFF : 0xFFFF
        let linear = longMode64 ? regs.rip : (sregs.cs.base &+ regs.rip) & 0xFFFF_FFFF
        guard let code = codeBytes(vcpu: vcpu, memory: memory, linear: linear, count: longestEncoding),
              let (fallback, length) = decode(code) else { return nil }
        let cpl = sregs.cs.selector & 3
        let rip = regs.rip
        var exception: UInt8?
        switch fallback {
        case .int3:
            exception = breakpointVector
        case .clac, .stac:
            guard cpl == 0 else { return nil }  // #UD from ring 3: not ours to fake
            regs.rflags = fallback == .clac ? regs.rflags & ~alignmentCheckFlag : regs.rflags | alignmentCheckFlag
        case .fwait:
            guard let fpu = try? vcpu.fpu() else { return nil }
            if fpu.fsw & fswErrorSummary != 0 {
                // #MF is a fault: it is taken at the fwait itself.
                do { try vcpu.injectException(vector: floatingPointErrorVector) } catch { return nil }
                return (fallback, rip)
            }
        }
        regs.rip = (regs.rip &+ UInt64(length)) & ipMask
        do {
            try vcpu.setRegisters(regs)
            if let exception { try vcpu.injectException(vector: exception) }
        } catch {
            return nil
        }
        return (fallback, rip)
    }

    /// `count` bytes at a guest-linear address, across a page boundary if
    /// need be; fewer at the end of mapped memory, nil if none.
    static func codeBytes(vcpu: VCPU, memory: GuestMemory, linear: UInt64, count: Int) -> [UInt8]? {
        var bytes: [UInt8] = []
        var address = linear
        while bytes.count < count {
            guard let physical = try? vcpu.translate(address) ?? nil else { break }
            let inPage = Int(min(UInt64(count - bytes.count), 0x1000 - (physical & 0xFFF)))
            guard let chunk = try? memory.read(count: inPage, at: GuestAddress(physical)) else { break }
            bytes += chunk
            address &+= UInt64(inPage)
        }
        return bytes.isEmpty ? nil : bytes
    }
}
