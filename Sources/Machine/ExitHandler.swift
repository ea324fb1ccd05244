import KVM
import Memory

/// What the vCPU loop does after an exit.
public enum ExitAction: Equatable {
    /// Run the guest again.
    case resume
    /// KVM_RUN was interrupted: look at pending requests (stop, reset, halt check).
    case interrupted
    /// A triple fault: reset, or stop with -no-reboot.
    case reset
    /// HLT reached userspace (no in-kernel LAPIC): see if it can ever wake.
    case halted
    /// Stop the VM after printing a report of the vCPU state.
    case fail(String)
}

/// Dispatches one exit to the buses. A free function over plain values, so
/// tests feed it synthetic exits. It runs on the vCPU thread for every exit:
/// no allocation on the I/O paths.
@inline(__always)
public func handleExit(_ exit: VCPUExit, ports: PortIOBus, mmio: MMIOBus) -> ExitAction {
    switch exit {
    case .io(let io):
        // `rep ins/outs` delivers `count` accesses of `size` bytes back to back.
        var p = io.data
        for _ in 0..<io.count {
            switch io.direction {
            case .write:
                ports.write(port: io.port, size: io.size, value: loadLittleEndian(p, size: io.size))
            case .read:
                storeLittleEndian(UInt64(ports.read(port: io.port, size: io.size)), to: p, size: io.size)
            }
            p += io.size
        }
        return .resume
    case .mmio(let m):
        if m.isWrite {
            mmio.write(address: m.address, size: m.length, value: loadLittleEndian(m.data, size: m.length) as UInt64)
        } else {
            storeLittleEndian(mmio.read(address: m.address, size: m.length), to: m.data, size: m.length)
        }
        return .resume
    case .interrupted, .irqWindowOpen:
        return .interrupted
    case .hlt:
        return .halted
    case .shutdown:
        return .reset
    case .systemEvent(let type):
        // KVM_SYSTEM_EVENT_SHUTDOWN = 1, _RESET = 2, _CRASH = 3 (api.rst).
        switch type {
        case 2: return .reset
        case 1: return .fail("guest requested shutdown (KVM_SYSTEM_EVENT_SHUTDOWN)")
        default: return .fail("guest system event \(type) (KVM_EXIT_SYSTEM_EVENT)")
        }
    case let .failEntry(reason, cpu):
        return .fail("KVM_EXIT_FAIL_ENTRY: hardware entry failure reason 0x\(String(reason, radix: 16)) on host CPU \(cpu)")
    case .internalError(let info):
        let data = info.data.map { "0x" + String($0, radix: 16) }.joined(separator: " ")
        return .fail("KVM_EXIT_INTERNAL_ERROR: \(info.suberrorName) (suberror \(info.suberror))"
                     + (data.isEmpty ? "" : ", data \(data)"))
    case .unknown(let reason):
        return .fail("unhandled KVM exit reason \(reason)")
    }
}

/// Reads a 1/2/4/8-byte little-endian value (x86 port and MMIO data).
@inline(__always)
func loadLittleEndian(_ p: UnsafeMutableRawPointer, size: Int) -> UInt32 {
    switch size {
    case 1: UInt32(p.load(as: UInt8.self))
    case 2: UInt32(UInt16(littleEndian: p.loadUnaligned(as: UInt16.self)))
    default: UInt32(littleEndian: p.loadUnaligned(as: UInt32.self))
    }
}

@inline(__always)
func loadLittleEndian(_ p: UnsafeMutableRawPointer, size: Int) -> UInt64 {
    size == 8 ? UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)) : UInt64(loadLittleEndian(p, size: size) as UInt32)
}

@inline(__always)
func storeLittleEndian(_ v: UInt64, to p: UnsafeMutableRawPointer, size: Int) {
    switch size {
    case 1: p.storeBytes(of: UInt8(truncatingIfNeeded: v), as: UInt8.self)
    case 2: p.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, as: UInt16.self)
    case 4: p.storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, as: UInt32.self)
    default: p.storeBytes(of: v.littleEndian, as: UInt64.self)
    }
}
