/// The QMP commands SwiftVMM answers, with their argument rules, checked the
/// way QEMU's generated marshallers check them.
struct QMPCommands {
    enum ArgumentType: Sendable { case string, int, bool, stringList, objectList }

    struct Command: Sendable {
        let name: String
        let arguments: [(name: String, type: ArgumentType, required: Bool)]
        let run: @Sendable (QMPMachine, [String: JSONValue]) throws(QMPError) -> JSONValue
    }

    static let package = "swiftvmm 0.1.0"
    static let version: JSONValue = ["qemu": ["micro": .int(0), "minor": .int(1), "major": .int(0)],
                                     "package": .string(package)]

    static let all: [Command] = [
        Command(name: "qmp_capabilities", arguments: [("enable", .stringList, false)]) { _, _ throws(QMPError) in
            // Negotiation itself is handled by the session; here it is a repeat.
            throw .commandNotFound("Capabilities negotiation is already complete, command ignored")
        },
        Command(name: "query-version", arguments: []) { _, _ in version },
        Command(name: "query-status", arguments: []) { m, _ in
            ["status": .string(m.statusName), "singlestep": false, "running": .bool(m.isRunning)]
        },
        Command(name: "query-commands", arguments: []) { _, _ in
            .array(all.map { ["name": .string($0.name)] })
        },
        Command(name: "query-name", arguments: []) { m, _ in
            m.name.map { ["name": .string($0)] } ?? .object([])
        },
        Command(name: "query-cpus-fast", arguments: []) { m, _ in
            .array(m.cpus.map { cpu in
                ["cpu-index": .int(cpu.index), "qom-path": .string("/machine/unattached/device[\(cpu.index)]"),
                 "thread-id": .int(Int(cpu.threadID)),
                 "props": ["core-id": .int(0), "thread-id": .int(0), "socket-id": .int(cpu.index)],
                 "target": "x86_64"]
            })
        },
        // QEMU's BlockInfo, for the members a client reads.
        Command(name: "query-block", arguments: []) { m, _ in
            .array(m.disks.map { d in
                ["device": .string(d.device), "qdev": .string("/machine/peripheral-anon/\(d.device)/virtio-backend"),
                 "locked": false, "removable": false, "type": "unknown",
                 "inserted": ["file": .string(d.path), "ro": .bool(d.readOnly), "drv": "raw", "encrypted": false,
                              "backing_file_depth": .int(0), "image": ["filename": .string(d.path), "format": "raw",
                                                                        "virtual-size": .number(String(d.size))]]]
            })
        },
        // QEMU's RxFilterInfo. Without a control queue the device filters
        // nothing: promiscuous, every VLAN (QEMU lists all 4096 ids, from
        // 4095 down), broadcasts allowed.
        Command(name: "query-rx-filter", arguments: [("name", .string, false)]) { m, args throws(QMPError) in
            let wanted = args["name"]?.stringValue
            let nics = m.nics.filter { wanted == nil || $0.id == wanted }
            if let wanted, nics.isEmpty { throw .generic("invalid net client name: \(wanted)") }
            return .array(nics.map { n in
                ["name": .string(n.id), "promiscuous": true, "multicast": "normal", "unicast": "normal",
                 "vlan": "all", "broadcast-allowed": true, "multicast-overflow": false, "unicast-overflow": false,
                 "main-mac": .string(n.mac), "vlan-table": allVLANs, "unicast-table": .array([]),
                 "multicast-table": .array([])]
            })
        },
        // QEMU's query-stats (StatsResult per provider). The VM-wide "kvm"
        // provider holds what this VMM adds to KVM: how often it completed
        // an instruction the host's emulator refused (cumulative counters).
        // There are no per-vCPU or cryptodev statistics.
        Command(name: "query-stats", arguments: [("target", .string, true), ("providers", .objectList, false),
                                                 ("vcpus", .stringList, false)]) { m, args throws(QMPError) in
            let target = args["target"]?.stringValue ?? ""
            switch target {
            case "vm":
                let wanted = args["providers"].flatMap { v -> [String]? in
                    guard case .array(let items) = v else { return nil }
                    return items.compactMap { $0["provider"]?.stringValue }
                }
                if let wanted, !wanted.contains("kvm") { return .array([]) }
                return .array([["provider": "kvm", "stats": .array(m.emulationFallbacks.map { f in
                    ["name": .string("emulation_fallback_\(f.name)"), "value": .number(String(f.count))]
                })]])
            case "vcpu", "cryptodev":
                return .array([])
            default:
                throw .generic("Parameter 'target' does not accept value '\(target)'")
            }
        },
        Command(name: "stop", arguments: []) { m, _ in
            m.stop()
            return .object([])
        },
        Command(name: "cont", arguments: []) { m, _ throws(QMPError) in
            try m.cont()
            return .object([])
        },
        Command(name: "system_reset", arguments: []) { m, _ in
            m.systemReset()
            return .object([])
        },
        Command(name: "system_powerdown", arguments: []) { m, _ throws(QMPError) in
            try m.systemPowerdown()
            return .object([])
        },
        Command(name: "quit", arguments: []) { m, _ in
            m.quit()
            return .object([])
        },
        Command(name: "human-monitor-command", arguments: [("command-line", .string, true), ("cpu-index", .int, false)]) {
            m, args in
            .string(humanMonitor(m, args["command-line"]?.stringValue ?? ""))
        },
    ]

    static let allVLANs: JSONValue = .array((0..<4096).reversed().map { .int($0) })

    static func find(_ name: String) -> Command? { all.first { $0.name == name } }

    /// Checks `arguments` against the command's rules; QEMU's wording.
    static func validate(_ command: Command, _ arguments: [JSONMember]) throws(QMPError) -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for member in arguments {
            guard let spec = command.arguments.first(where: { $0.name == member.key }) else {
                throw .generic("Parameter '\(member.key)' is unexpected")
            }
            let ok: Bool
            switch (spec.type, member.value) {
            case (.string, .string), (.bool, .bool): ok = true
            case (.stringList, .array(let items)): ok = items.allSatisfy { $0.stringValue != nil }
            case (.objectList, .array(let items)): ok = items.allSatisfy { if case .object = $0 { true } else { false } }
            case (.int, .number(let n)): ok = Int(n) != nil
            default: ok = false
            }
            guard ok else {
                let expected = switch spec.type {
                case .string: "string"
                case .int: "integer"
                case .bool: "boolean"
                case .stringList, .objectList: "array"
                }
                throw .generic("Invalid parameter type for '\(member.key)', expected: \(expected)")
            }
            out[member.key] = member.value
        }
        for spec in command.arguments where spec.required && out[spec.name] == nil {
            throw .generic("Parameter '\(spec.name)' is missing")
        }
        return out
    }

    /// The HMP commands we understand through human-monitor-command.
    static func humanMonitor(_ m: QMPMachine, _ line: String) -> String {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        switch words {
        case []:
            return ""
        case ["info", "status"]:
            switch m.statusName {
            case "running": return "VM status: running\r\n"
            case "paused": return "VM status: paused\r\n"
            default: return "VM status: paused (\(m.statusName))\r\n"
            }
        case ["info", "registers"]:
            return m.registersText().split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\r\n")
                + "\r\n"
        case ["info", "network"]:
            return m.nics.enumerated().map { i, n in
                "\(n.id): index=\(i),type=nic,model=virtio-net-pci,macaddr=\(n.mac)\r\n"
                    + " \\ tap: ifname=\(n.tap),script=no,downscript=no\r\n"
                    + "   rx \(n.receivedFrames) frames \(n.receivedBytes) bytes \(n.receiveDropped) dropped,"
                    + " tx \(n.transmittedFrames) frames \(n.transmittedBytes) bytes \(n.transmitDropped) dropped\r\n"
            }.joined()
        case ["info", "name"]:
            return m.name.map { $0 + "\r\n" } ?? ""
        default:
            return "unknown command: '\(words.joined(separator: " "))'\r\n"
        }
    }
}
