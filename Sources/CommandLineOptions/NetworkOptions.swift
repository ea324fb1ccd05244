import Machine

/// `-netdev tap,...`, `-device virtio-net-pci,...` and `-nic tap,...`,
/// collected in any order (as QEMU allows) and matched at the end.
struct NetworkOptions {
    struct Netdev {
        let id: String
        let tapName: String?
    }
    struct Card {
        let netdev: String?
        let tapName: String?
        let id: String?
        let mac: [UInt8]?
    }

    private var netdevs: [Netdev] = []
    private var requested: [Card] = []

    /// `-netdev tap,id=ID[,ifname=NAME][,script=no][,downscript=no][,vhost=off]`.
    mutating func addNetdev(_ value: String) throws(CommandLineError) {
        let (type, options) = OptionValues.keyValueList(value)
        try Self.requireTap(type, option: "-netdev")
        var id: String?, tapName: String?
        for (key, v) in options {
            switch key {
            case "id": id = try OptionValues.identifier(v, option: "-netdev")
            case "ifname": tapName = v
            default: try Self.tapOption(key, v, option: "-netdev")
            }
        }
        guard let id, !id.isEmpty else { throw CommandLineError("-netdev '\(value)': id=ID is missing") }
        guard !netdevs.contains(where: { $0.id == id }) else { throw CommandLineError("Duplicate ID '\(id)' for netdev") }
        netdevs.append(Netdev(id: id, tapName: tapName))
    }

    /// `-device virtio-net-pci,netdev=ID[,mac=MAC][,id=NAME]`.
    mutating func addDevice(_ value: String) throws(CommandLineError) {
        let (driver, options) = OptionValues.keyValueList(value)
        guard driver == "virtio-net-pci" else { throw CommandLineError("-device '\(driver)': unknown device") }
        var netdev: String?, id: String?, mac: [UInt8]?
        for (key, v) in options {
            switch key {
            case "netdev": netdev = v
            case "id": id = try OptionValues.identifier(v, option: "-device")
            case "mac": mac = try Self.mac(v)
            default: throw CommandLineError("-device virtio-net-pci: unknown property '\(key)'")
            }
        }
        guard let netdev else { throw CommandLineError("-device virtio-net-pci: netdev=ID is missing") }
        requested.append(Card(netdev: netdev, tapName: nil, id: id, mac: mac))
    }

    /// `-nic tap[,ifname=NAME][,model=virtio-net-pci][,mac=MAC][,id=ID]...`, or `-nic none`.
    mutating func addNIC(_ value: String) throws(CommandLineError) {
        let (type, options) = OptionValues.keyValueList(value)
        if type == "none" && options.isEmpty { return }
        try Self.requireTap(type, option: "-nic")
        var tapName: String?, id: String?, mac: [UInt8]?
        for (key, v) in options {
            switch key {
            case "ifname": tapName = v
            case "id": id = try OptionValues.identifier(v, option: "-nic")
            case "mac": mac = try Self.mac(v)
            case "model":
                guard v == "virtio-net-pci" || v == "virtio" else {
                    throw CommandLineError("-nic: model=\(v) is not supported (virtio-net-pci only)")
                }
            default: try Self.tapOption(key, v, option: "-nic")
            }
        }
        requested.append(Card(netdev: nil, tapName: tapName, id: id, mac: mac))
    }

    /// The cards, each with its tap; every -netdev used exactly once.
    func cards() throws(CommandLineError) -> [MachineConfig.NICConfig] {
        try OptionValues.requireUnique(requested.compactMap(\.id), kind: "device")
        var used = Set<String>()
        var out: [MachineConfig.NICConfig] = []
        for (index, card) in requested.enumerated() {
            var tapName = card.tapName
            // QEMU's NIC name: the -device id, else model.N.
            let name = card.id ?? "virtio-net-pci.\(index)"
            if let id = card.netdev {
                guard let netdev = netdevs.first(where: { $0.id == id }) else {
                    throw CommandLineError("-device virtio-net-pci: no -netdev with id=\(id)")
                }
                guard used.insert(id).inserted else {
                    throw CommandLineError("-device virtio-net-pci: netdev '\(id)' is already used by another card")
                }
                tapName = netdev.tapName
            }
            let mac = card.mac ?? MachineConfig.NICConfig.defaultMAC(index: index)
            if out.contains(where: { $0.mac == mac }) {
                let text = MachineConfig.NICConfig(id: "", tapName: nil, mac: mac).macText
                throw CommandLineError("two network cards with the MAC address \(text)")
            }
            out.append(MachineConfig.NICConfig(id: name, tapName: tapName, mac: mac))
        }
        if let unused = netdevs.first(where: { !used.contains($0.id) }) {
            throw CommandLineError("-netdev id=\(unused.id) is not used by any -device virtio-net-pci,netdev=\(unused.id)")
        }
        return out
    }

    private static func requireTap(_ type: String, option: String) throws(CommandLineError) {
        switch type {
        case "tap": return
        case "": throw CommandLineError("\(option): missing backend type (tap)")
        case "user": throw CommandLineError("\(option) user: not supported (there is no user-mode network stack; use tap)")
        default: throw CommandLineError("\(option) \(type): not supported (tap only)")
        }
    }

    /// The tap options SwiftVMM accepts besides id/ifname: no scripts, no vhost.
    private static func tapOption(_ key: String, _ value: String, option: String) throws(CommandLineError) {
        switch key {
        case "script", "downscript":
            guard value == "no" else {
                throw CommandLineError(
                    "\(option) tap: \(key)=\(value) is not supported (only \(key)=no: configure the tap before starting)")
            }
        case "vhost":
            guard value == "off" else {
                throw CommandLineError(
                    "\(option) tap: vhost=\(value) is not supported (the device is emulated in SwiftVMM; use vhost=off)")
            }
        default: throw CommandLineError("\(option) tap: unknown option '\(key)'")
        }
    }

    /// "52:54:00:12:34:56": six hex bytes; a unicast address.
    static func mac(_ text: String) throws(CommandLineError) -> [UInt8] {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let bytes = parts.compactMap { $0.count == 2 && $0.allSatisfy(\.isHexDigit) ? UInt8($0, radix: 16) : nil }
        guard parts.count == 6, bytes.count == 6 else {
            throw CommandLineError("mac=\(text): expected six hex bytes like 52:54:00:12:34:56")
        }
        guard bytes[0] & 1 == 0 else { throw CommandLineError("mac=\(text): a multicast address cannot be a card's address") }
        return bytes
    }
}
