import Boot
import CLinuxHost
import Devices
import Glibc
import KVM
import Memory
import Synchronization

/// A virtio-blk disk on the PCI bus, with its own I/O thread: queue
/// notifications (doorbell writes on a vCPU thread) only signal an eventfd;
/// the I/O thread reads and writes the image, so a vCPU never waits for disk.
final class BlockDevice: Sendable {
    let transport: VirtioPCITransport
    let function: PCIFunction
    let block: VirtioBlock
    let path: String
    private let workFD: Int32

    init(drive: MachineConfig.DriveConfig, index: Int, vm: VirtualMachine, msi: any MSISender, memory: GuestMemory,
         platform: PCPlatform, ports: PortIOBus, mmio: MMIOBus) throws(MachineError) {
        path = drive.path
        let backend: RawFileBackend
        do {
            backend = try RawFileBackend(path: drive.path, readOnly: drive.readOnly, formatProbed: drive.format == nil,
                                         locking: drive.locking)
        } catch {
            throw .host(error.description)
        }
        if drive.format == nil {
            // QEMU probes too; unlike it we cannot open the other formats yet,
            // and never attach one as raw.
            if let detected = ImageFormat.detect(backend.header()) {
                throw .host("'\(drive.path)' is a \(detected) image (its header says so): only raw images can be "
                            + "attached; it is not used as raw (format=raw would expose its bytes as they are)")
            }
            Log.warning("Image format was not specified for '\(drive.path)' and probing guessed raw. Automatically "
                        + "detecting the format is dangerous for raw images, write operations on block 0 will be "
                        + "restricted. Specify the 'raw' format explicitly to remove the restrictions.")
        }
        let fd = eventfd(0, Int32(EFD_CLOEXEC))
        guard fd >= 0 else { throw .host("eventfd failed: \(errnoText(errno))") }
        workFD = fd
        let box = LateReference<VirtioPCITransport>()
        block = VirtioBlock(backend: backend, serial: drive.id ?? "swiftvmm-disk\(index)",
                            onQueueError: { error in
                                Log.warning("virtio-blk \(drive.path): \(error); device needs reset")
                                box.value?.markNeedsReset()
                            },
                            scheduleWork: {
                                var one: UInt64 = 1
                                _ = write(fd, &one, 8)
                            })
        // PC PCI INTx: INTA# of the slot, on the GSI the DSDT's _PRT and the
        // MP table give it (written to the interrupt line register for the
        // guest too; MSI-X is the normal path).
        guard let slot = platform.pci.firstFreeSlot else { throw .host("no free PCI slot for \(drive.path)") }
        let gsi = UInt32(PCIPlatformLayout.gsi(slot: slot, pin: 0))
        transport = VirtioPCITransport(device: block, memory: memory, msi: msi,
                                       intx: KVMInterruptLine(vm: vm, gsi: gsi))
        box.set(transport)
        var config = transport.configSpace()
        config.set16(PCIConfigSpace.interruptLine, UInt16(gsi) | 1 << 8)  // line; pin INTA#
        // The doorbell as a KVM ioeventfd on the I/O thread's eventfd: a
        // notify write then wakes the I/O thread inside the kernel, with no
        // exit to userspace. It moves with BAR 4; without ioeventfd support
        // the write exits and reaches the transport as usual.
        function = PCIFunction(name: "virtio-blk \(index)", config: config, model: transport, ports: ports, mmio: mmio) {
            bar, old, new in
            moveDoorbells(vm: vm, eventFDs: [fd], bar: bar, from: old, to: new)
        }
        guard platform.pci.plug(function) == slot else { throw .host("no free PCI slot for \(drive.path)") }
        let block = self.block
        _ = try spawnThread(name: "blk\(index)") {
            var value: UInt64 = 0
            while read(fd, &value, 8) == 8 || errno == EINTR { block.processQueue() }
        }
    }
}
