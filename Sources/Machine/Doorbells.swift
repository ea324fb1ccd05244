import Devices
import KVM
import Memory

/// A virtio-pci function's doorbells as KVM ioeventfds: queue i's notify
/// address (BAR 4 + notify offset + i × multiplier) signals `eventFDs[i]`,
/// re-registered whenever the guest moves BAR 4. Without ioeventfd support
/// the writes exit and reach the transport as usual.
func moveDoorbells(vm: VirtualMachine, eventFDs: [Int32], bar: Int, from old: UInt64?, to new: UInt64?) {
    guard bar == VirtioPCITransport.modernBar else { return }
    for (queue, fd) in eventFDs.enumerated() {
        let offset = VirtioPCITransport.notifyOffset + UInt64(queue) * UInt64(VirtioPCITransport.notifyMultiplier)
        if let old { try? vm.ioeventfd(fd, address: old + offset, length: 2, deassign: true) }
        if let new {
            do { try vm.ioeventfd(fd, address: new + offset, length: 2) } catch {
                Log.info("no ioeventfd (\(error)); doorbells exit to the VMM")
            }
        }
    }
}
