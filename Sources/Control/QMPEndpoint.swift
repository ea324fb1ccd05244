/// Where a QMP server listens: `-qmp unix:PATH,server=on,wait=off` (or the
/// older `server,nowait`) or `-qmp tcp:HOST:PORT,server=on,wait=off`.
public struct QMPEndpoint: Equatable, Sendable {
    public enum Address: Equatable, Sendable {
        case unix(path: String)
        case tcp(host: String, port: UInt16)
    }

    public var address: Address
    /// QEMU's wait=on (its default for servers): do not start the guest
    /// until a client has connected.
    public var waitForClient: Bool

    public init(address: Address, waitForClient: Bool) {
        self.address = address
        self.waitForClient = waitForClient
    }

    /// Parses the value of `-qmp`; errors are one line naming the value.
    public static func parse(_ text: String) throws(QMPEndpointError) -> QMPEndpoint {
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let target = items[0]
        var server: Bool?
        var wait = true
        for item in items.dropFirst() {
            // An empty item ("a,,b" or a trailing comma) gives [""]: an unknown option, not a crash.
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            let key = kv[0]
            let value = kv.count > 1 ? kv[1] : "on"
            guard value == "on" || value == "off" else {
                throw QMPEndpointError("-qmp '\(text)': '\(key)' takes on or off")
            }
            switch key {
            case "server": server = value == "on"
            case "wait": wait = value == "on"
            case "nowait": wait = false
            default: throw QMPEndpointError("-qmp '\(text)': unknown option '\(key)'")
            }
        }
        guard server == true else {
            throw QMPEndpointError("-qmp '\(text)': only server mode is supported (add server=on,wait=off)")
        }
        if target.hasPrefix("unix:") {
            let path = String(target.dropFirst(5))
            guard !path.isEmpty else { throw QMPEndpointError("-qmp '\(text)': empty socket path") }
            guard path.utf8.count < 108 else {
                throw QMPEndpointError("-qmp '\(text)': socket path longer than 107 bytes")
            }
            return QMPEndpoint(address: .unix(path: path), waitForClient: wait)
        }
        if target.hasPrefix("tcp:") {
            let hostPort = target.dropFirst(4)
            guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]),
                  port > 0 else {
                throw QMPEndpointError("-qmp '\(text)': expected tcp:HOST:PORT")
            }
            var host = String(hostPort[..<colon])
            if host.isEmpty || host == "localhost" { host = "127.0.0.1" }
            return QMPEndpoint(address: .tcp(host: host, port: port), waitForClient: wait)
        }
        throw QMPEndpointError("-qmp '\(text)': supported are unix:PATH and tcp:HOST:PORT")
    }
}

public struct QMPEndpointError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
