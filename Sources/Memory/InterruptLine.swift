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
