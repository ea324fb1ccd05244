@testable import Control
import Machine
import Testing

/// A machine that records what QMP asked of it.
final class FakeMachine: QMPMachine {
    var statusName = "running"
    var isRunning: Bool { statusName == "running" }
    var name: String? = "vm1"
    var cpus: [(index: Int, threadID: Int32)] = [(0, 1234)]
    var disks: [(device: String, path: String, readOnly: Bool, size: UInt64)] = [("virtio0", "/tmp/d.img", true, 1 << 20)]
    var nics = [NICInfo(id: "net0", mac: "52:54:00:12:34:56", tap: "tap7", receivedFrames: 3, receivedBytes: 180,
                        receiveDropped: 1, transmittedFrames: 2, transmittedBytes: 120, transmitDropped: 0)]
    var calls: [String] = []
    func stop() { calls.append("stop"); statusName = "paused" }
    func cont() throws(QMPError) { calls.append("cont"); statusName = "running" }
    func systemReset() { calls.append("reset") }
    func systemPowerdown() throws(QMPError) { throw .generic("no ACPI") }
    func quit() { calls.append("quit") }
    func registersText() -> String { "RIP=0x1\nRAX=0x2" }
    var emulationFallbacks: [(name: String, count: UInt64)] = [("int3", 7), ("clac", 0)]
}

@Suite("QMP session")
struct QMPSessionTests {
    let machine = FakeMachine()
    let session: QMPSession

    init() { session = QMPSession(machine: machine) }

    func send(_ text: String) throws -> [JSONValue] {
        try session.receive(Array(text.utf8)).map { try JSONParser.parse($0) }
    }

    func errorClass(_ reply: JSONValue) -> String? { reply["error"]?["class"]?.stringValue }

    @Test("the greeting names swiftvmm and offers no capabilities")
    func greeting() throws {
        let g = try JSONParser.parse(QMPSession.greeting)
        #expect(g["QMP"]?["capabilities"] == .array([]))
        #expect(g["QMP"]?["version"]?["package"]?.stringValue?.hasPrefix("swiftvmm ") == true)
    }

    @Test("only qmp_capabilities before negotiation; then not again")
    func negotiation() throws {
        #expect(errorClass(try send(#"{"execute":"query-status"}"#)[0]) == "CommandNotFound")
        #expect(try send(#"{"execute":"qmp_capabilities"}"#)[0] == ["return": .object([])])
        #expect(session.negotiated)
        #expect(errorClass(try send(#"{"execute":"qmp_capabilities"}"#)[0]) == "CommandNotFound")
    }

    @Test("asking for a capability we do not offer fails")
    func unknownCapability() throws {
        let r = try send(#"{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}"#)[0]
        #expect(r["error"]?["desc"]?.stringValue == "Capability 'oob' not available")
        #expect(!session.negotiated)
    }

    @Test("the id is echoed whatever its JSON type", arguments: ["1", "\"a\"", "[1,{\"b\":null}]", "{}", "null", "1.50"])
    func idEcho(id: String) throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        let r = try send(#"{"execute":"query-name","id":"# + id + "}")[0]
        #expect(r["id"] == (try JSONParser.parse(id)))
        #expect(r["return"]?["name"]?.stringValue == "vm1")
    }

    @Test("bad requests get QEMU's error class and text; the session goes on", arguments: [
        (#"{"execute":}"#, "GenericError", nil),
        ("[1]", "GenericError", "QMP input must be a JSON object"),
        (#"{"arguments":{}}"#, "GenericError", "QMP input lacks member 'execute'"),
        (#"{"execute":1}"#, "GenericError", "QMP input member 'execute' must be a string"),
        (#"{"execute":"stop","bogus":1}"#, "GenericError", "QMP input member 'bogus' is unexpected"),
        (#"{"execute":"stop","arguments":[]}"#, "GenericError", "QMP input member 'arguments' must be an object"),
        (#"{"execute":"stop","arguments":{"x":1}}"#, "GenericError", "Parameter 'x' is unexpected"),
        (#"{"execute":"human-monitor-command","arguments":{"command-line":1}}"#, "GenericError",
         "Invalid parameter type for 'command-line', expected: string"),
        (#"{"execute":"human-monitor-command"}"#, "GenericError", "Parameter 'command-line' is missing"),
        (#"{"execute":"frobnicate"}"#, "CommandNotFound", "The command frobnicate has not been found"),
    ] as [(String, String, String?)])
    func badRequests(request: String, cls: String, desc: String?) throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        let r = try send(request)[0]
        #expect(errorClass(r) == cls)
        if let desc { #expect(r["error"]?["desc"]?.stringValue == desc) }
        #expect(try send(#"{"execute":"query-status"}"#)[0]["return"]?["status"] == "running")
        #expect(machine.calls.isEmpty)
    }

    @Test("commands reach the machine")
    func commands() throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        _ = try send(#"{"execute":"stop"}{"execute":"cont"}{"execute":"system_reset"}{"execute":"quit"}"#)
        #expect(machine.calls == ["stop", "cont", "reset", "quit"])
        #expect(errorClass(try send(#"{"execute":"system_powerdown"}"#)[0]) == "GenericError")
        let cpus = try send(#"{"execute":"query-cpus-fast"}"#)[0]["return"]
        #expect(cpus == .array([["cpu-index": .int(0), "qom-path": "/machine/unattached/device[0]",
                                 "thread-id": .int(1234),
                                 "props": ["core-id": .int(0), "thread-id": .int(0), "socket-id": .int(0)],
                                 "target": "x86_64"]]))
        let block = try send(#"{"execute":"query-block"}"#)[0]["return"]
        guard case .array(let disks) = block, let first = disks.first else { Issue.record("no disks"); return }
        #expect(first["device"] == "virtio0")
        #expect(first["inserted"]?["file"] == "/tmp/d.img")
        #expect(first["inserted"]?["ro"] == true)
        let filters = try send(#"{"execute":"query-rx-filter"}"#)[0]["return"]
        guard case .array(let cards) = filters, let card = cards.first else { Issue.record("no cards"); return }
        #expect(card["name"] == "net0" && card["main-mac"] == "52:54:00:12:34:56" && card["promiscuous"] == true)
        let one = try send(#"{"execute":"query-rx-filter","arguments":{"name":"net0"}}"#)[0]["return"]
        #expect(one == filters)
        let missing = try send(#"{"execute":"query-rx-filter","arguments":{"name":"nope"}}"#)[0]
        #expect(errorClass(missing) == "GenericError")
        #expect(missing["error"]?["desc"] == "invalid net client name: nope")
        let names = try send(#"{"execute":"query-commands"}"#)[0]["return"]
        guard case .array(let list) = names else { Issue.record("not a list"); return }
        #expect(list.contains(["name": "human-monitor-command"]))
    }

    @Test("query-stats: the VM-wide kvm provider counts the emulation fallbacks; no vCPU stats; bad targets refused")
    func stats() throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        let vm = try send(#"{"execute":"query-stats","arguments":{"target":"vm"}}"#)[0]["return"]
        #expect(vm == .array([["provider": "kvm", "stats": .array([
            ["name": "emulation_fallback_int3", "value": .int(7)], ["name": "emulation_fallback_clac", "value": .int(0)]])]]))
        let other = try send(#"{"execute":"query-stats","arguments":{"target":"vm","providers":[{"provider":"cryptodev"}]}}"#)
        #expect(other[0]["return"] == .array([]))
        #expect(try send(#"{"execute":"query-stats","arguments":{"target":"vcpu"}}"#)[0]["return"] == .array([]))
        let bad = try send(#"{"execute":"query-stats","arguments":{"target":"moon"}}"#)[0]
        #expect(bad["error"]?["desc"] == "Parameter 'target' does not accept value 'moon'")
        #expect(errorClass(try send(#"{"execute":"query-stats"}"#)[0]) == "GenericError")
    }

    @Test("HMP: info status and info registers; unknown commands say so")
    func humanMonitor() throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        func hmp(_ line: String) throws -> String? {
            try send(#"{"execute":"human-monitor-command","arguments":{"command-line":""# + line + #""}}"#)[0]["return"]?
                .stringValue
        }
        #expect(try hmp("info status") == "VM status: running\r\n")
        machine.statusName = "prelaunch"
        #expect(try hmp("info status") == "VM status: paused (prelaunch)\r\n")
        #expect(try hmp("info registers") == "RIP=0x1\r\nRAX=0x2\r\n")
        #expect(try hmp("info network")?.hasPrefix("net0: index=0,type=nic,model=virtio-net-pci,macaddr=52:54:00:12:34:56\r\n") == true)
        #expect(try hmp("info network")?.contains("rx 3 frames 180 bytes 1 dropped") == true)
        #expect(try hmp("savevm x") == "unknown command: 'savevm x'\r\n")
    }

    @Test("an oversized message gets a GenericError and the next command works")
    func oversized() throws {
        let small = QMPSession(machine: machine, messageLimit: 1024)
        _ = small.receive(Array(#"{"execute":"qmp_capabilities"}"#.utf8))
        let big = #"{"execute":"query-status","arguments":{"pad":""# + String(repeating: "x", count: 5000) + #""}}"#
        let replies = small.receive(Array((big + #"{"execute":"query-status"}"#).utf8)).map { try? JSONParser.parse($0) }
        #expect(replies.count == 2)
        #expect(replies[0]?["error"]?["class"] == "GenericError")
        #expect(replies[1]?["return"]?["status"] == "running")
    }

    @Test("a raw newline or control byte inside a string: QEMU's GenericError, then the next command works")
    func lexicalErrors() throws {
        _ = try send(#"{"execute":"qmp_capabilities"}"#)
        // The case that once swallowed every later command. QEMU 7.2's
        // three answers (measured): the stray token, the '}' left after
        // recovery, then the next command.
        let broken = try send("{\"execute\":\"query-\nstatus\"}{\"execute\":\"query-status\"}")
        #expect(broken.count == 3)
        #expect(broken[0]["error"]?["desc"] == "JSON parse error, stray '\"query-\n'")
        #expect(broken[1]["error"]?["desc"] == "JSON parse error, expecting value")
        #expect(broken[2]["return"]?["status"] == "running")
        // QEMU 7.2 answers this one (measured) with: stray '"é😀\u007F\u0001'.
        let control = try send("{\"execute\":\"qmp_capabilities\",\"id\":\"é😀\u{7F}\u{01}\"}\n{\"execute\":\"query-status\"}")
        #expect(control.first?["error"]?["desc"] == .string("JSON parse error, stray '\"é😀\u{7F}\u{01}'"))
        #expect(control.last?["return"]?["status"] == "running")
        // A byte 0xFE/0xFF is an error anywhere; recovery resumes at '{'.
        let ff = try session.receive([0xFF] + Array(#"garbage{"execute":"query-status"}"#.utf8)).map { try JSONParser.parse($0) }
        #expect(ff.first?["error"]?["desc"] == "JSON parse error, stray '\u{FFFD}'")
        #expect(ff.last?["return"]?["status"] == "running")
    }

    @Test("events are written timestamp first, data last")
    func events() {
        #expect(QMPSession.event("STOP", data: nil, seconds: 1, microseconds: 2)
                == #"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}"#)
    }
}

@Suite("QMP endpoints")
struct QMPEndpointTests {
    @Test("QEMU's spellings")
    func spellings() throws {
        #expect(try QMPEndpoint.parse("unix:/tmp/q.sock,server=on,wait=off")
                == QMPEndpoint(address: .unix(path: "/tmp/q.sock"), waitForClient: false))
        #expect(try QMPEndpoint.parse("unix:/tmp/q.sock,server,nowait")
                == QMPEndpoint(address: .unix(path: "/tmp/q.sock"), waitForClient: false))
        #expect(try QMPEndpoint.parse("unix:/tmp/q.sock,server")
                == QMPEndpoint(address: .unix(path: "/tmp/q.sock"), waitForClient: true))
        #expect(try QMPEndpoint.parse("tcp:127.0.0.1:4444,server=on,wait=off")
                == QMPEndpoint(address: .tcp(host: "127.0.0.1", port: 4444), waitForClient: false))
        #expect(try QMPEndpoint.parse("tcp::4444,server,nowait").address == .tcp(host: "127.0.0.1", port: 4444))
    }

    @Test("refusals name the value", arguments: ["unix:/x", "unix:/x,server=off", "unix:/x,server=on,", "unix:/x,,server=on", "unix:,server", "tcp:host,server",
                                                "tcp:1.2.3.4:0,server", "stdio,server", "unix:/x,server,colour=red",
                                                "unix:/x,server=maybe"])
    func refusals(text: String) {
        #expect(throws: QMPEndpointError.self) { try QMPEndpoint.parse(text) }
    }
}
