/// The x86 CPU state after RESET (Intel SDM Vol. 3A, §10.1.1, Table 10-1),
/// as plain values so it is testable without KVM: real mode, CS selector
/// 0xF000 with base 0xFFFF0000, IP 0xFFF0, so the first instruction is
/// fetched from 0xFFFFFFF0.
public struct ResetState: Equatable, Sendable {
    public struct SegmentState: Equatable, Sendable {
        public var selector: UInt16
        public var base: UInt64
        public var limit: UInt32
        /// The access-rights type field (code: 0xB execute/read accessed;
        /// data: 0x3 read/write accessed).
        public var type: UInt8
        public var isCode: Bool
    }

    public var rip: UInt64 = 0xFFF0
    public var rflags: UInt64 = 0x2
    /// EDX holds the processor signature after reset; 0x600 = family 6.
    public var rdx: UInt64 = 0x600
    public var cr0: UInt64 = 0x6000_0010
    public var cs = SegmentState(selector: 0xF000, base: 0xFFFF_0000, limit: 0xFFFF, type: 0xB, isCode: true)
    public var data = SegmentState(selector: 0, base: 0, limit: 0xFFFF, type: 0x3, isCode: false)

    public init() {}

    /// The address of the first instruction fetched.
    public var firstFetchAddress: UInt64 { cs.base + rip }
}
