/// An interrupt line as a device sees it. Devices know nothing of KVM:
/// the machine hands each one a line wired to the irqchip, tests hand a fake.
public protocol InterruptLine: Sendable {
    /// Drives the line high (asserted) or low.
    func setLevel(_ high: Bool)
}

extension InterruptLine {
    /// An edge: high then low.
    public func pulse() {
        setLevel(true)
        setLevel(false)
    }
}

/// Message-signalled interrupts as a PCI device sends them (the address and
/// data of an MSI or MSI-X table entry). The machine delivers them through
/// KVM (KVM_SIGNAL_MSI); tests record them.
public protocol MSISender: Sendable {
    func send(address: UInt64, data: UInt32)
}
