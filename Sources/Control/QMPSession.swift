/// One QMP client's protocol state (docs/interop/qmp-spec.rst): greeting,
/// capabilities negotiation, then commands. Bytes in, reply lines out; no
/// sockets here, so it is tested directly.
public final class QMPSession {
    private let machine: QMPMachine
    private var splitter: JSONStreamSplitter
    /// True after qmp_capabilities: only then commands run and events flow.
    public private(set) var negotiated = false

    public init(machine: QMPMachine, messageLimit: Int = 64 << 10) {
        self.machine = machine
        splitter = JSONStreamSplitter(limit: messageLimit)
    }

    /// The greeting QEMU sends on connect.
    public static var greeting: String {
        (["QMP": ["version": QMPCommands.version, "capabilities": []]] as JSONValue).serialized
    }

    /// Feeds received bytes; returns the replies, one JSON text per line.
    /// Events a command causes (STOP for `stop`, SHUTDOWN for `quit`) are
    /// broadcast by the server while the command runs, so they precede its
    /// reply, as in QEMU.
    public func receive(_ bytes: some Sequence<UInt8>) -> [String] {
        splitter.feed(bytes).map { message in
            switch message {
            case .tooLarge(let n):
                return reply(id: nil, .failure(.generic("JSON message of \(n) bytes exceeds the \(splitter.limit)-byte limit")))
            case .complete(let bytes):
                return handle(bytes)
            case .lexicalError(let token):
                // QEMU's text (the reply's string escaping shows the bytes).
                return reply(id: nil, .failure(.generic("JSON parse error, stray '\(String(decoding: token, as: UTF8.self))'")))
            }
        }
    }

    private func reply(id: JSONValue?, _ result: Result<JSONValue, QMPError>) -> String {
        var members: [JSONMember]
        switch result {
        case .success(let v): members = [JSONMember("return", v)]
        case .failure(let e): members = [JSONMember("error", e.json)]
        }
        if let id { members.append(JSONMember("id", id)) }
        return JSONValue.object(members).serialized
    }

    private func handle(_ bytes: [UInt8]) -> String {
        let request: JSONValue
        do {
            request = try JSONParser.parse(bytes)
        } catch {
            return reply(id: nil, .failure(.generic("JSON parse error, \(error.message)")))
        }
        guard case .object(let members) = request else {
            return reply(id: nil, .failure(.generic("QMP input must be a JSON object")))
        }
        let id = request["id"]
        return reply(id: id, Result { () throws(QMPError) in try execute(members) })
    }

    /// Checks the request object as QEMU's qmp_dispatch_check_obj does,
    /// then runs the command.
    private func execute(_ members: [JSONMember]) throws(QMPError) -> JSONValue {
        var name: String?
        var arguments: [JSONMember] = []
        for m in members {
            switch m.key {
            case "execute":
                guard case .string(let s) = m.value else { throw .generic("QMP input member 'execute' must be a string") }
                name = s
            case "arguments":
                guard case .object(let a) = m.value else { throw .generic("QMP input member 'arguments' must be an object") }
                arguments = a
            case "id":
                continue
            default:
                throw .generic("QMP input member '\(m.key)' is unexpected")
            }
        }
        guard let name else { throw .generic("QMP input lacks member 'execute'") }
        if !negotiated {
            guard name == "qmp_capabilities" else {
                throw .commandNotFound("Expecting capabilities negotiation with 'qmp_capabilities'")
            }
            guard let command = QMPCommands.find(name) else { throw .commandNotFound("qmp_capabilities missing") }
            let args = try QMPCommands.validate(command, arguments)
            // We offer no capabilities (the greeting lists none).
            if case .array(let wanted) = args["enable"], let first = wanted.first?.stringValue {
                throw .generic("Capability '\(first)' not available")
            }
            negotiated = true
            return .object([])
        }
        guard let command = QMPCommands.find(name) else {
            throw .commandNotFound("The command \(name) has not been found")
        }
        return try command.run(machine, try QMPCommands.validate(command, arguments))
    }

    /// An event as QEMU writes it: timestamp first.
    public static func event(_ name: String, data: JSONValue?, seconds: Int, microseconds: Int) -> String {
        var members = [JSONMember("timestamp", ["seconds": .int(seconds), "microseconds": .int(microseconds)]),
                       JSONMember("event", .string(name))]
        if let data { members.append(JSONMember("data", data)) }
        return JSONValue.object(members).serialized
    }
}
