import CommandLineOptions
import Control
import Glibc
import Machine
import Memory

/// swiftvmm: parse the QEMU-style command line, build the machine, run it.
let version = "0.1.0"

func fail(_ message: String) -> Never {
    Log.writeLine("swiftvmm: " + message)
    exit(1)
}

let command: Command
do {
    command = try CommandLineParser().parse(Array(CommandLine.arguments.dropFirst()))
} catch {
    fail(error.description)
}

switch command {
case .help:
    print(CommandLineParser.usage)
case .logItemsHelp:
    print(CommandLineParser.logItemsHelp)
case .version:
    print("SwiftVMM version \(version)")
case .run(let config, let qmp):
    switch config.logLevel {
    case .error: Log.setLevel(.error)
    case .warning: Log.setLevel(.warning)
    case .info: Log.setLevel(.info)
    case .debug: Log.setLevel(.debug)
    }
    let machine: Machine
    do {
        machine = try Machine.build(config)
    } catch {
        fail(error.description)
    }
    var server: QMPServer?
    if !qmp.isEmpty {
        do { server = try QMPServer(endpoints: qmp, machine: machine) } catch { fail(error.description) }
        server?.start()
    }
    let status = machine.run()
    server?.finish()
    exit(status)
}
