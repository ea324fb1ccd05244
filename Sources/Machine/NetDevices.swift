import Boot
import CLinuxHost
import Devices
import Glibc
import KVM
import Memory

/// A virtio-net card on the PCI bus with a tap backend and its own I/O
/// thread. The thread's epoll loop waits on the tap (readable: frames for
/// the guest) and on two eventfds, the receive and transmit doorbells
/// (KVM ioeventfds, so a notify write wakes the thread without an exit to
/// userspace). RX back-pressure: when the guest has no receive buffers the
/// tap leaves the epoll set (the kernel queues, then drops, frames in the
/// tap's own bounded queue) until the driver notifies the receive queue.
final class NetDevice: Sendable {
    let transport: VirtioPCITransport
    let function: PCIFunction
    let net: VirtioNet
    let tap: TapBackend
    let config: MachineConfig.NICConfig

    init(nic: MachineConfig.NICConfig, slotIndex: Int, vm: VirtualMachine, msi: any MSISender, memory: GuestMemory,
         platform: PCPlatform, ports: PortIOBus, mmio: MMIOBus) throws(MachineError) {
        do { tap = try TapBackend(name: nic.tapName ?? "tap%d") } catch { throw .host("network card \(nic.id): \(error)") }
        config = nic
        Log.info("\(nic.id): tap '\(tap.name)' \(tap.created ? "created for this VM" : "attached (it existed)")")
        let receiveKick = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        let transmitKick = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard receiveKick >= 0, transmitKick >= 0 else { throw .host("eventfd failed: \(errnoText(errno))") }
        let kicks = [receiveKick, transmitKick]
        let box = LateReference<VirtioPCITransport>()
        net = VirtioNet(backend: tap, mac: nic.mac,
                        onQueueError: { error in
                            Log.warning("virtio-net \(nic.id): \(error); device needs reset")
                            box.value?.markNeedsReset()
                        },
                        wake: { queue in
                            guard queue >= 0, queue < kicks.count else { return }
                            var one: UInt64 = 1
                            _ = write(kicks[queue], &one, 8)
                        })
        // PC PCI INTx, as for the disks.
        guard let slot = platform.pci.firstFreeSlot else { throw .host("no free PCI slot for network card \(nic.id)") }
        let gsi = UInt32(PCIPlatformLayout.gsi(slot: slot, pin: 0))
        transport = VirtioPCITransport(device: net, memory: memory, msi: msi, intx: KVMInterruptLine(vm: vm, gsi: gsi))
        box.set(transport)
        var pciConfig = transport.configSpace()
        pciConfig.set16(PCIConfigSpace.interruptLine, UInt16(gsi) | 1 << 8)
        function = PCIFunction(name: "virtio-net \(nic.id)", config: pciConfig, model: transport, ports: ports, mmio: mmio) {
            bar, old, new in
            moveDoorbells(vm: vm, eventFDs: kicks, bar: bar, from: old, to: new)
        }
        guard platform.pci.plug(function) == slot else { throw .host("no free PCI slot for network card \(nic.id)") }
        let net = self.net, tapFD = tap.fd
        _ = try spawnThread(name: "net\(slotIndex)") {
            NetDevice.serve(net: net, tapFD: tapFD, receiveKick: receiveKick, transmitKick: transmitKick)
        }
    }

    /// The I/O thread's loop; never returns (the thread ends with the process).
    private static func serve(net: VirtioNet, tapFD: Int32, receiveKick: Int32, transmitKick: Int32) {
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        func control(_ op: Int32, _ fd: Int32) {
            var ev = epoll_event()
            ev.events = EPOLLIN.rawValue
            ev.data.fd = fd
            _ = epoll_ctl(epollFD, op, fd, &ev)
        }
        control(EPOLL_CTL_ADD, receiveKick)
        control(EPOLL_CTL_ADD, transmitKick)
        // The tap joins once a driver is ready (activation notifies the receive queue).
        var tapWatched = false
        func receive() {
            let waiting = net.processReceive() == .waitingForBuffers
            if waiting && tapWatched {
                control(EPOLL_CTL_DEL, tapFD)
                tapWatched = false
            } else if !waiting && !tapWatched {
                control(EPOLL_CTL_ADD, tapFD)
                tapWatched = true
            }
        }
        var events = [epoll_event](repeating: epoll_event(), count: 4)
        var counter: UInt64 = 0
        while true {
            let n = epoll_wait(epollFD, &events, Int32(events.count), -1)
            for i in 0..<max(0, Int(n)) {
                switch events[i].data.fd {
                case transmitKick:
                    _ = read(transmitKick, &counter, 8)
                    net.processTransmit()
                case receiveKick:
                    _ = read(receiveKick, &counter, 8)
                    receive()
                default:
                    receive()
                }
            }
        }
    }

    /// What a monitor shows for this card.
    var info: NICInfo {
        let s = net.statistics
        return NICInfo(id: config.id, mac: config.macText, tap: tap.name,
                       receivedFrames: s.receivedFrames, receivedBytes: s.receivedBytes, receiveDropped: s.receiveDropped,
                       transmittedFrames: s.transmittedFrames, transmittedBytes: s.transmittedBytes,
                       transmitDropped: s.transmitDropped)
    }
}

/// A network card as monitors see it.
public struct NICInfo: Sendable {
    public let id: String
    public let mac: String
    public let tap: String
    /// Frames the guest received (and bytes after the virtio-net header),
    /// and frames dropped on the way in (guest buffers too small).
    public let receivedFrames, receivedBytes, receiveDropped: UInt64
    /// Frames the guest sent, and frames dropped (malformed, or the tap refused them).
    public let transmittedFrames, transmittedBytes, transmitDropped: UInt64

    public init(id: String, mac: String, tap: String, receivedFrames: UInt64, receivedBytes: UInt64,
                receiveDropped: UInt64, transmittedFrames: UInt64, transmittedBytes: UInt64, transmitDropped: UInt64) {
        self.id = id
        self.mac = mac
        self.tap = tap
        self.receivedFrames = receivedFrames
        self.receivedBytes = receivedBytes
        self.receiveDropped = receiveDropped
        self.transmittedFrames = transmittedFrames
        self.transmittedBytes = transmittedBytes
        self.transmitDropped = transmitDropped
    }
}
