import CLinuxHost
import Glibc
import KVM
import Memory
import Synchronization

/// Devices' view of MSI delivery. Each distinct (address, data) message gets
/// a GSI route and an irqfd, so raising it is an eventfd write that KVM turns
/// into the interrupt (api.rst, KVM_IRQFD); past `maximumRoutes`, or where
/// KVM lacks routing, KVM_SIGNAL_MSI. The table always starts with the PC's
/// default routes (GSIRoute.pcDefaults), installed at build so every test
/// with legacy interrupts checks them.
final class KVMMSIRouter: MSISender {
    struct Route {
        let address: UInt64
        let data: UInt32
        let gsi: UInt32
        let eventFD: Int32
    }

    static let firstGSI: UInt32 = 24
    static let maximumRoutes = 64
    let vm: VirtualMachine
    private let routes = Mutex<[Route]>([])
    private let routing: Bool

    init(vm: VirtualMachine, routing: Bool) {
        self.vm = vm
        self.routing = routing
    }

    deinit { routes.withLock { for r in $0 { close(r.eventFD) } } }

    func send(address: UInt64, data: UInt32) {
        let fd: Int32? = routes.withLock { list in
            if let r = list.first(where: { $0.address == address && $0.data == data }) { return r.eventFD }
            guard routing, list.count < KVMMSIRouter.maximumRoutes else { return nil }
            let gsi = KVMMSIRouter.firstGSI + UInt32(list.count)
            let efd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
            guard efd >= 0 else { return nil }
            let table = GSIRoute.pcDefaults + (list.map { GSIRoute.msi(gsi: $0.gsi, address: $0.address, data: $0.data) }
                + [.msi(gsi: gsi, address: address, data: data)])
            do {
                try vm.setGSIRouting(table)
                try vm.irqfd(efd, gsi: gsi)
            } catch {
                Log.warning("MSI route for 0x\(String(address, radix: 16)): \(error); using KVM_SIGNAL_MSI")
                close(efd)
                return nil
            }
            list.append(Route(address: address, data: data, gsi: gsi, eventFD: efd))
            return efd
        }
        if let fd {
            var one: UInt64 = 1
            _ = write(fd, &one, 8)
            return
        }
        do {
            try vm.signalMSI(address: address, data: data)
        } catch {
            Log.warning("MSI to 0x\(String(address, radix: 16)): \(error)")
        }
    }
}
