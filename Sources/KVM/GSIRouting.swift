import CKVM

/// One entry of the irqchip's GSI routing table (api.rst, KVM_SET_GSI_ROUTING).
public enum GSIRoute: Equatable, Sendable {
    /// GSI to a PIC (chip 0 master, 1 slave) or IOAPIC (chip 2) pin.
    case irqchip(gsi: UInt32, chip: UInt32, pin: UInt32)
    /// GSI to a message-signalled interrupt.
    case msi(gsi: UInt32, address: UInt64, data: UInt32)

    /// What KVM routes by default with KVM_CREATE_IRQCHIP: GSI 0-15 to both
    /// the PIC pair (pin gsi % 8) and the IOAPIC (pin gsi), 16-23 to the
    /// IOAPIC. A new table replaces the default, so it must start with these.
    public static let pcDefaults: [GSIRoute] = (UInt32(0)..<24).flatMap { gsi -> [GSIRoute] in
        let ioapic = GSIRoute.irqchip(gsi: gsi, chip: UInt32(KVM_IRQCHIP_IOAPIC), pin: gsi)
        guard gsi < 16 else { return [ioapic] }
        let pic = GSIRoute.irqchip(gsi: gsi, chip: gsi < 8 ? UInt32(KVM_IRQCHIP_PIC_MASTER) : UInt32(KVM_IRQCHIP_PIC_SLAVE),
                                   pin: gsi % 8)
        return [ioapic, pic]
    }
}

extension VirtualMachine {
    /// KVM_SET_GSI_ROUTING: replaces the whole routing table.
    public func setGSIRouting(_ routes: [GSIRoute]) throws(KVMError) {
        let header = MemoryLayout<kvm_irq_routing>.size
        let stride = MemoryLayout<kvm_irq_routing_entry>.stride
        let bytes = header + routes.count * stride
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        buffer.assumingMemoryBound(to: kvm_irq_routing.self).pointee.nr = UInt32(routes.count)
        let entries = (buffer + header).assumingMemoryBound(to: kvm_irq_routing_entry.self)
        for (i, route) in routes.enumerated() {
            switch route {
            case let .irqchip(gsi, chip, pin):
                entries[i].gsi = gsi
                entries[i].type = UInt32(KVM_IRQ_ROUTING_IRQCHIP)
                entries[i].u.irqchip = kvm_irq_routing_irqchip(irqchip: chip, pin: pin)
            case let .msi(gsi, address, data):
                entries[i].gsi = gsi
                entries[i].type = UInt32(KVM_IRQ_ROUTING_MSI)
                var msi = kvm_irq_routing_msi()
                msi.address_lo = UInt32(truncatingIfNeeded: address)
                msi.address_hi = UInt32(truncatingIfNeeded: address >> 32)
                msi.data = data
                entries[i].u.msi = msi
            }
        }
        _ = try check(ckvm_ioctl_ptr(fd.rawValue, CKVM_SET_GSI_ROUTING, buffer), "KVM_SET_GSI_ROUTING")
    }
}
