/// Offloads the guest can take in frames it receives: what the tap may hand
/// over unsegmented or without a checksum (TUNSETOFFLOAD's TUN_F_* bits).
public struct NetOffloads: OptionSet, Sendable, Equatable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let checksum = NetOffloads(rawValue: 1)
    public static let tso4 = NetOffloads(rawValue: 2)
    public static let tso6 = NetOffloads(rawValue: 4)
    public static let tsoECN = NetOffloads(rawValue: 8)
}

/// Where a virtio-net device's frames go and come from: a tap device, or a
/// fake in tests. Every frame crosses with the 12-byte virtio-net header
/// (struct virtio_net_hdr_v1, virtio 1.2 §5.1.6) in front of it.
public protocol NetBackend: AnyObject, Sendable {
    /// Sends one header + frame. False when the host refused it (the
    /// device counts it as dropped).
    func send(_ frame: UnsafeRawBufferPointer) -> Bool
    /// Reads one header + frame into `buffer`: its length, or nil when no
    /// frame is waiting. Never blocks.
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int?
    /// The offloads the driver accepted (at DRIVER_OK, and none at reset).
    func setOffloads(_ offloads: NetOffloads)
    /// The link's MTU, when the host knows it.
    var mtu: Int? { get }
}
