import CLinuxHost
import Glibc
import Machine
import Memory

/// The QMP sockets: listeners from `-qmp`, one `QMPSession` per client,
/// events broadcast to every negotiated client. Runs on the main thread,
/// inside the machine's event loop (Machine.watch).
public final class QMPServer {
    public struct ServerError: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Listener {
        let fd: Int32
        let endpoint: QMPEndpoint
    }

    private final class Client {
        let fd: Int32
        let session: QMPSession
        var output: [UInt8] = []
        init(fd: Int32, session: QMPSession) {
            self.fd = fd
            self.session = session
        }
    }

    /// A client that does not read its replies is dropped past this much.
    static let outputLimit = 1 << 20
    /// How long `finish` waits for connected clients to hang up first.
    static let hangUpGraceMilliseconds = 250

    private let machine: Machine
    private let adapter: MachineAdapter
    private var listeners: [Listener] = []
    private var clients: [Int32: Client] = [:]
    private var warnedAboutLimit = false

    /// Opens every listener now, so a bad endpoint fails before the VM runs.
    public init(endpoints: [QMPEndpoint], machine: Machine) throws(ServerError) {
        self.machine = machine
        adapter = MachineAdapter(machine)
        signal(SIGPIPE, SIG_IGN)
        do {
            for e in endpoints {
                let fd: Int32
                switch e.address {
                case .unix(let path): fd = try QMPServer.listenUnix(path)
                case let .tcp(host, port): fd = try QMPServer.listenTCP(host: host, port: port)
                }
                listeners.append(Listener(fd: fd, endpoint: e))
            }
        } catch {
            finish()
            throw error
        }
    }

    /// Hooks into the machine: events, listeners; waits for the first client
    /// of every wait=on endpoint (QEMU's behaviour) before returning.
    public func start() {
        machine.attachMonitor()
        machine.onEvent = { [unowned self] event in self.broadcast(event) }
        for l in listeners {
            if l.endpoint.waitForClient {
                Log.writeLine("swiftvmm: waiting for a QMP connection on \(QMPServer.describe(l.endpoint))")
                let fd = accept(l.fd, nil, nil)
                if fd >= 0 { adopt(fd) }
            }
            machine.watch(l.fd, events: EPOLLIN.rawValue) { [unowned self] _ in
                let fd = accept(l.fd, nil, nil)
                if fd >= 0 { self.adopt(fd) }
            }
        }
    }

    /// Sends what is still queued (briefly), gives clients a moment to hang
    /// up first (so a client that just read its `quit` reply sees an orderly
    /// end rather than a reset), closes everything, removes the socket files.
    /// Call after the machine stopped.
    public func finish() {
        for c in clients.values {
            var timeout = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(c.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let flags = fcntl(c.fd, F_GETFL)
            _ = fcntl(c.fd, F_SETFL, flags & ~O_NONBLOCK)
            flush(c)
        }
        var open = clients.values.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        var waited = 0
        while !open.isEmpty && waited < QMPServer.hangUpGraceMilliseconds {
            let n = poll(&open, nfds_t(open.count), 10)
            waited += 10
            guard n > 0 else { continue }
            open.removeAll { p in
                guard p.revents != 0 else { return false }
                var scratch = [UInt8](repeating: 0, count: 512)
                let got = scratch.withUnsafeMutableBytes { recv(p.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                return got <= 0  // hung up (or failed): done with it
            }
        }
        for c in clients.values { close(c.fd) }
        clients.removeAll()
        for l in listeners {
            close(l.fd)
            if case .unix(let path) = l.endpoint.address { unlink(path) }
        }
        listeners.removeAll()
    }

    static func describe(_ e: QMPEndpoint) -> String {
        switch e.address {
        case .unix(let path): "unix:\(path)"
        case let .tcp(host, port): "tcp:\(host):\(port)"
        }
    }

    // MARK: clients

    private func adopt(_ fd: Int32) {
        // Over the limit a connection is closed at once, before any greeting:
        // idle clients cannot use up the VMM's descriptors.
        guard clients.count < machine.config.qmpClientLimit else {
            close(fd)
            if !warnedAboutLimit {
                warnedAboutLimit = true
                Log.warning("QMP: \(machine.config.qmpClientLimit) clients are connected; further connections are closed")
            }
            return
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let client = Client(fd: fd, session: QMPSession(machine: adapter))
        clients[fd] = client
        machine.watch(fd, events: EPOLLIN.rawValue) { [unowned self] events in self.service(client, events) }
        send(client, QMPSession.greeting)
    }

    private func drop(_ client: Client) {
        machine.unwatch(client.fd)
        close(client.fd)
        clients[client.fd] = nil
    }

    private func service(_ client: Client, _ events: UInt32) {
        if events & EPOLLOUT.rawValue != 0 { flush(client) }
        guard events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(client.fd, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n <= 0 {
            drop(client)  // gone, perhaps mid-message: nothing else changes
            return
        }
        for line in client.session.receive(buffer[0..<n]) {
            guard clients[client.fd] != nil else { return }
            send(client, line)
        }
    }

    private func send(_ client: Client, _ line: String) {
        client.output.append(contentsOf: line.utf8)
        client.output.append(contentsOf: [0x0D, 0x0A])  // QMP lines end in CRLF
        if client.output.count > QMPServer.outputLimit {
            Log.warning("QMP client not reading its replies; disconnecting it")
            drop(client)
            return
        }
        flush(client)
    }

    private func flush(_ client: Client) {
        while !client.output.isEmpty {
            let n = client.output.withUnsafeBytes { Glibc.send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                client.output.removeFirst(n)
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { break }
            drop(client)
            return
        }
        guard clients[client.fd] != nil else { return }
        let want = EPOLLIN.rawValue | (client.output.isEmpty ? 0 : EPOLLOUT.rawValue)
        machine.watch(client.fd, events: want) { [unowned self] events in self.service(client, events) }
    }

    private func broadcast(_ event: MachineEvent) {
        var tv = timeval()
        gettimeofday(&tv, nil)
        let name: String
        var data: JSONValue?
        switch event {
        case .stop: name = "STOP"
        case .resume: name = "RESUME"
        case .powerdown: name = "POWERDOWN"
        case let .reset(guest, reason):
            name = "RESET"
            data = ["guest": .bool(guest), "reason": .string(reason)]
        case let .shutdown(guest, reason):
            name = "SHUTDOWN"
            data = ["guest": .bool(guest), "reason": .string(reason)]
        }
        let line = QMPSession.event(name, data: data, seconds: Int(tv.tv_sec), microseconds: Int(tv.tv_usec))
        for c in clients.values where c.session.negotiated { send(c, line) }
    }

    // MARK: listening sockets

    private static func listenUnix(_ path: String) throws(ServerError) -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                throw ServerError(description: "-qmp: '\(path)' exists and is not a socket")
            }
            // A live server answers; a stale file from a dead process refuses.
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var addr = unixAddress(path)
            let r = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            close(probe)
            if r == 0 { throw ServerError(description: "-qmp: '\(path)' is in use by a running process") }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError(description: "-qmp: socket: \(String(cString: strerror(errno)))") }
        // Bind and listen under a temporary name, then rename: a client that
        // sees the path can always connect (no window between bind and listen).
        let temporary = path + ".\(getpid()).tmp"
        guard temporary.utf8.count < 108 else {
            close(fd)
            throw ServerError(description: "-qmp: socket path '\(path)' is too long")
        }
        unlink(temporary)
        var addr = unixAddress(temporary)
        let old = umask(0o177)  // the socket file is created 0600
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        umask(old)
        guard r == 0, listen(fd, 8) == 0, chmod(temporary, 0o600) == 0, rename(temporary, path) == 0 else {
            let e = errno
            close(fd)
            unlink(temporary)
            throw ServerError(description: "-qmp: cannot listen on '\(path)': \(String(cString: strerror(e)))")
        }
        return fd
    }

    private static func unixAddress(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8.prefix(raw.count - 1))
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    private static func listenTCP(host: String, port: UInt16) throws(ServerError) -> Int32 {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else {
            throw ServerError(description: "-qmp: '\(host)' is not an IPv4 address")
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError(description: "-qmp: socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0, listen(fd, 8) == 0 else {
            let e = errno
            close(fd)
            throw ServerError(description: "-qmp: cannot listen on \(host):\(port): \(String(cString: strerror(e)))")
        }
        return fd
    }
}
