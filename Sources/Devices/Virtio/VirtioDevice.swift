import Memory

/// Device status bits (virtio 1.2 §2.1).
public struct VirtioStatus: OptionSet, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let acknowledge = VirtioStatus(rawValue: 1)
    public static let driver = VirtioStatus(rawValue: 2)
    public static let driverOK = VirtioStatus(rawValue: 4)
    public static let featuresOK = VirtioStatus(rawValue: 8)
    public static let needsReset = VirtioStatus(rawValue: 64)
    public static let failed = VirtioStatus(rawValue: 128)
}

/// Feature bits every device shares (§6).
public enum VirtioFeature {
    public static let indirectDescriptors: UInt64 = 1 << 28
    public static let eventIndex: UInt64 = 1 << 29
    public static let version1: UInt64 = 1 << 32
}

/// The transport as a device sees it: how to raise interrupts (the
/// transport picks MSI-X or INTx + ISR) and whether the device may touch
/// guest memory now (PCI: the command register's bus-master bit).
public protocol VirtioInterrupt: Sendable {
    func notifyQueue(_ index: Int)
    func notifyConfigChange()
    var mayAccessMemory: Bool { get }
}

extension VirtioInterrupt {
    public var mayAccessMemory: Bool { true }
}

/// A virtio device type (blk, net) as the transport sees it.
public protocol VirtioDevice: AnyObject, Sendable {
    /// Device ID (§5): 2 block, 1 network.
    var deviceType: UInt16 { get }
    /// Everything the device offers, VIRTIO_F_VERSION_1 included.
    var offeredFeatures: UInt64 { get }
    var queueMaxSizes: [UInt16] { get }
    /// Whether the driver's feature set is consistent (a subset of what is
    /// offered with VERSION_1 is checked by the transport; this adds the
    /// device type's own dependencies, e.g. virtio-net §5.1.3.1).
    func acceptsFeatures(_ features: UInt64) -> Bool
    func configRead(offset: Int, size: Int) -> UInt64
    func configWrite(offset: Int, size: Int, value: UInt64)
    /// DRIVER_OK: the queues are validated and live.
    func activate(queues: [SplitVirtqueue], features: UInt64, memory: GuestMemory, interrupt: any VirtioInterrupt)
    /// The driver notified queue `index` (a doorbell write).
    func queueNotified(_ index: Int)
    /// Device reset (status 0): drop the queues, forget everything negotiated.
    func reset()
}

extension VirtioDevice {
    public func acceptsFeatures(_ features: UInt64) -> Bool { true }
}
