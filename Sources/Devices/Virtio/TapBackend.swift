import CLinuxHost
import Glibc

public enum TapError: Error, CustomStringConvertible, Equatable {
    case badName(String)
    case cannotOpenTun(errno: Int32)
    case noVnetHeader
    case cannotAttach(name: String, errno: Int32)
    case cannotConfigure(name: String, what: String, errno: Int32)

    public var description: String {
        switch self {
        case let .badName(n):
            "tap name '\(n)' is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)"
        case let .cannotOpenTun(e):
            "cannot open /dev/net/tun: \(String(cString: strerror(e)))" + (e == EACCES || e == EPERM ? " (needs CAP_NET_ADMIN)" : "")
        case .noVnetHeader: "the host's tun driver does not support IFF_VNET_HDR"
        case let .cannotAttach(n, e):
            "cannot attach to tap '\(n)': \(String(cString: strerror(e)))"
                + (e == EBUSY ? " (another process holds it; it is not a multi-queue tap)" : "")
                + (e == EPERM ? " (needs CAP_NET_ADMIN, or the tap's owner)" : "")
                + (e == EINVAL ? " (is '\(n)' a tap? it may be a tun or another kind of interface)" : "")
        case let .cannotConfigure(n, w, e): "tap '\(n)': \(w) failed: \(String(cString: strerror(e)))"
        }
    }
}

/// A Linux tap device (Documentation/networking/tuntap.rst) opened with
/// IFF_TAP | IFF_NO_PI | IFF_VNET_HDR and a 12-byte header, so the guest's
/// virtio-net header reaches the host stack as is (checksum and
/// segmentation offloads included). An existing (persistent) tap is used as
/// it is; a missing one is created and disappears with the file descriptor.
/// Non-blocking: the device reads it when epoll says it is readable.
public final class TapBackend: NetBackend {
    public let name: String
    /// False when the tap existed before (a persistent one the user made).
    public let created: Bool
    public let fd: Int32
    public let mtu: Int?

    static let headerSize: Int32 = 12

    public init(name: String) throws(TapError) {
        guard !name.isEmpty, name.utf8.count < Int(IFNAMSIZ),
              !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace || !$0.isASCII }) else {
            throw .badName(name)
        }
        let fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpenTun(errno: errno) }
        var configured = false
        defer { if !configured { close(fd) } }
        let features = linux_host_tun_features(fd)
        guard features >= 0, features & linux_host_iff_vnet_hdr != 0 else { throw .noVnetHeader }
        let existed = if_nametoindex(name) != 0
        var actual = [CChar](repeating: 0, count: Int(IFNAMSIZ))
        let flags = linux_host_iff_tap | linux_host_iff_no_pi | linux_host_iff_vnet_hdr
        guard linux_host_tun_set_iff(fd, name, flags, &actual) == 0 else {
            throw .cannotAttach(name: name, errno: errno)
        }
        guard linux_host_tun_set_vnet_header_size(fd, TapBackend.headerSize) == 0 else {
            throw .cannotConfigure(name: name, what: "TUNSETVNETHDRSZ", errno: errno)
        }
        // No offloads until a driver negotiates them: the host stack then
        // segments and checksums every frame before the guest sees it.
        guard linux_host_tun_set_offload(fd, 0) == 0 else {
            throw .cannotConfigure(name: name, what: "TUNSETOFFLOAD", errno: errno)
        }
        configured = true
        self.fd = fd
        // The kernel's name: "tap%d" becomes tap0, tap1, ...
        let actualName = String(decoding: actual.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        self.name = actualName
        self.created = !existed
        let m = linux_host_interface_mtu(actualName)
        self.mtu = m > 0 ? Int(m) : nil
    }

    deinit { close(fd) }

    public func send(_ frame: UnsafeRawBufferPointer) -> Bool {
        while true {
            let n = write(fd, frame.baseAddress, frame.count)
            if n < 0 && errno == EINTR { continue }
            return n == frame.count
        }
    }

    public func receive(into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 && errno == EINTR { continue }
            return n > 0 ? n : nil
        }
    }

    public func setOffloads(_ offloads: NetOffloads) {
        var flags: UInt32 = 0
        if offloads.contains(.checksum) { flags |= linux_host_tun_f_csum }
        if offloads.contains(.tso4) { flags |= linux_host_tun_f_tso4 }
        if offloads.contains(.tso6) { flags |= linux_host_tun_f_tso6 }
        if offloads.contains(.tsoECN) { flags |= linux_host_tun_f_tso_ecn }
        if linux_host_tun_set_offload(fd, flags) != 0 {
            // Without the offloads the host segments and checksums for the
            // guest: slower, still correct.
            _ = linux_host_tun_set_offload(fd, 0)
        }
    }
}
