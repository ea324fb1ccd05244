import CKVM
import Glibc

/// A `struct kvm_cpuid2` with its trailing array of `kvm_cpuid_entry2`,
/// as KVM_GET_SUPPORTED_CPUID fills and KVM_SET_CPUID2 takes it.
public final class CPUIDTable: @unchecked Sendable {
    // Owned heap block; mutated only through the methods below before the
    // table is handed to a vCPU.
    private let storage: UnsafeMutableRawPointer
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        let bytes = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        storage = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        storage.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent = UInt32(capacity)
    }

    deinit { storage.deallocate() }

    func withRawPointer<R>(_ body: (UnsafeMutableRawPointer) throws -> R) rethrows -> R {
        try body(storage)
    }

    private var entries: UnsafeMutablePointer<kvm_cpuid_entry2> {
        (storage + MemoryLayout<kvm_cpuid2>.size).assumingMemoryBound(to: kvm_cpuid_entry2.self)
    }

    public var count: Int { Int(storage.assumingMemoryBound(to: kvm_cpuid2.self).pointee.nent) }

    /// The entry for (function, index), if KVM reported it.
    public func entry(function: UInt32, index: UInt32 = 0) -> kvm_cpuid_entry2? {
        for i in 0..<count where entries[i].function == function && entries[i].index == index {
            return entries[i]
        }
        return nil
    }

    /// Changes the entry for (function, index) in place; false if absent.
    @discardableResult
    public func update(function: UInt32, index: UInt32 = 0, _ body: (inout kvm_cpuid_entry2) -> Void) -> Bool {
        for i in 0..<count where entries[i].function == function && entries[i].index == index {
            body(&entries[i])
            return true
        }
        return false
    }

    /// A copy, so each vCPU can get its own APIC id.
    public func copy() -> CPUIDTable {
        let other = CPUIDTable(capacity: capacity)
        let bytes = MemoryLayout<kvm_cpuid2>.size + capacity * MemoryLayout<kvm_cpuid_entry2>.stride
        other.storage.copyMemory(from: storage, byteCount: bytes)
        return other
    }
}
