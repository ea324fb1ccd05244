import Foundation
import Testing

/// Boots the firmware guests on the built swiftvmm: serial output, exit
/// status, input, resets and failure reports.
extension KVMGuests {
@Suite("Boot tests (swiftvmm on /dev/kvm)")
struct GuestBootTests {
    @Test("real-mode hello prints on COM1 and exits through isa-debug-exit with 0x21")
    func realModeHello() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"), "-nographic"] + debugExitAtF4)
        #expect(r.stdout == "Hello from a real-mode guest on COM1\n")
        #expect(r.status == 0x21)
        #expect(r.stderr.isEmpty)
    }

    @Test("cli; hlt with nothing to wake the vCPU ends the VM with a message and status 0")
    func haltedForever() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin")])
        #expect(r.stdout.contains("Hello from a real-mode guest"))
        #expect(r.stderr.contains("halted with interrupts disabled"))
        #expect(r.status == 0)
    }

    @Test("long-mode test kernel passes every check and exits 0 on its reset with -no-reboot")
    func longModeKernel() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("demo.bin"), "-no-reboot"])
        #expect(r.stdout.contains("swiftvmm-test: ring3 cpl=3 ok"))
        #expect(r.stdout.contains("swiftvmm-test: done pass=4 fail=0"))
        #expect(!r.stdout.contains("FAIL"))
        #expect(r.stderr.contains("triple fault") || r.stderr.contains("reset"))
        #expect(r.status == 0)
    }

    @Test("the test kernel's fail count reaches the exit status through isa-debug-exit")
    func longModeKernelStatus() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("demo.bin"), "-no-reboot"] + debugExitAtF4)
        #expect(r.stdout.contains("done pass=4 fail=0"))
        #expect(r.status == 1)  // (0 << 1) | 1
    }

    @Test("without -no-reboot a guest reset restarts the firmware from the reset vector")
    func resetRestarts() throws {
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("demo.bin")])
        #expect(p.expect("done pass=4 fail=0"))
        // The second boot prints the banner again.
        let deadline = Date().addingTimeInterval(30)
        while p.stdout.components(separatedBy: "SwiftVMM test kernel").count < 3 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(p.stdout.components(separatedBy: "SwiftVMM test kernel").count >= 3)
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
        #expect(p.stderr.contains("terminating on signal 15"))
    }

    @Test("a triple fault (KVM_EXIT_SHUTDOWN) resets the VM, or ends it with status 0 under -no-reboot")
    func tripleFault() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("triplefault.bin"), "-no-reboot", "-log-level", "info"])
        #expect(r.stdout.contains("done pass=4 fail=0"))
        #expect(r.stderr.contains("guest reset (triple fault)"))
        #expect(r.status == 0)
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("triplefault.bin"), "-serial", "stdio"])
        let deadline = Date().addingTimeInterval(30)
        while p.stdout.components(separatedBy: "done pass=4").count < 3 && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(p.stdout.components(separatedBy: "done pass=4").count >= 3, "the guest did not run again after resets")
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
    }

    @Test("host input reaches the guest through the UART's receive interrupt")
    func interruptDrivenEcho() throws {
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("irq-echo.bin")] + debugExitAtF4)
        #expect(p.expect("echo: ready"))
        p.send("hello, vmm")
        #expect(p.expect("HELLO, VMM"))
        p.send("q")
        #expect(p.expect("echo: bye"))
        #expect(p.waitForExit() == 11)
    }

    @Test("more input than the 16-byte FIFO holds is delivered whole, in order")
    func inputBackPressure() throws {
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("irq-echo.bin")] + debugExitAtF4)
        #expect(p.expect("echo: ready"))
        let text = String(repeating: "abcdefghij", count: 20)
        p.send(text)
        #expect(p.expect(text.uppercased(), timeout: 60))
        p.send("q")
        #expect(p.waitForExit() == 11)
    }

    @Test("Ctrl-A x quits with status 0")
    func ctrlAQuits() throws {
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("irq-echo.bin")])
        #expect(p.expect("echo: ready"))
        p.send("\u{01}x")
        #expect(p.waitForExit() == 0)
        #expect(p.stderr.contains("terminated"))
    }

    @Test("an instruction KVM cannot run stops the VM with a register report, status 2")
    func failureReport() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("fault.bin"), "-no-reboot"])
        #expect(r.stdout == "!")
        if TestEnvironment.hostIsPVM {
            // kvm_pvm cannot emulate popcnt in protected mode, and no
            // fallback completes it.
            #expect(r.status == 2)
            #expect(r.stderr.contains("KVM_EXIT_INTERNAL_ERROR: emulation failure"))
            #expect(r.stderr.contains("CPL=0 (32-bit protected mode)"))
            #expect(r.stderr.contains("code at RIP: f3 0f b8 c0 cc f4"))
            #expect(r.stderr.contains("RAX="))
        } else {
            // On VT-x the int3 with no IDT is a triple fault.
            #expect(r.status == 0)
            #expect(r.stderr.contains("triple fault"))
        }
    }

    @Test("int3 in protected mode: #BP reaches the guest's handler with the next EIP (completed by the VMM on kvm_pvm)")
    func int3Fallback() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("int3-test.bin"), "-no-reboot", "-d", "fallbacks"]
                                + debugExitAtF4)
        #expect(r.stdout == "BBB\nint3-test: ok\n")
        #expect(r.status == 0x21, "\(r.stderr)")
        if TestEnvironment.hostIsPVM {
            // -d fallbacks: one line per completed instruction.
            #expect(r.stderr.split(separator: "\n").filter { $0.contains("completed int3 at RIP=") }.count == 3, "\(r.stderr)")
        }
        // QEMU on the same host: on kvm_pvm it stops at the first int3.
        let q = try GuestProcess(executable: TestEnvironment.qemu, arguments: [
            "-enable-kvm", "-display", "none", "-nodefaults", "-serial", "stdio", "-no-reboot",
            "-bios", TestEnvironment.firmware("int3-test.bin")] + debugExitAtF4)
        defer { q.signal(SIGKILL) }
        if TestEnvironment.hostIsPVM {
            let deadline = Date().addingTimeInterval(30)
            while !q.stderr.contains("KVM internal error") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            #expect(q.stderr.contains("KVM internal error. Suberror: 1"))
            #expect(q.stdout.isEmpty)
        } else {
            #expect(q.waitForExit(timeout: 30) == 0x21)
            #expect(q.stdout == r.stdout)
        }
    }

    @Test("a 32-bit PVH ELF as -kernel: start_info and the command line reach it, the same on QEMU")
    func pvh32() throws {
        let args = ["-kernel", TestEnvironment.firmware("pvh-hello.elf"), "-append", "hello pvh"] + debugExitAtF4
        let r = try runSwiftVMM(args + ["-no-reboot"])
        #expect(r.stdout == "pvh-hello: start_info ok, command line: hello pvh\n")
        #expect(r.status == 0x21)
        #expect(r.stderr.isEmpty, "not Linux: nothing added to its command line; \(r.stderr)")
        let q = try GuestProcess(executable: TestEnvironment.qemu,
                                 arguments: ["-enable-kvm", "-display", "none", "-nodefaults", "-serial", "stdio"] + args)
        #expect(q.waitForExit(timeout: 30) == 0x21)
        #expect(q.stdout == r.stdout)
    }

    @Test("-serial file:PATH writes the guest's output to the file")
    func serialToFile() throws {
        let path = TestEnvironment.temporaryPath("serial.txt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"), "-serial", "file:" + path] + debugExitAtF4)
        #expect(r.status == 0x21)
        #expect(r.stdout.isEmpty)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "Hello from a real-mode guest on COM1\n")
    }

    @Test("-serial none and -nodefaults drop the output; the guest still runs")
    func serialNone() throws {
        for args in [["-serial", "none"], ["-nodefaults"]] {
            let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin")] + args + debugExitAtF4)
            #expect(r.status == 0x21)
            #expect(r.stdout.isEmpty)
        }
    }

    @Test("-exit-stats reports the VMM's own time per exit")
    func exitStats() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("exitloop-1000.bin"), "-no-reboot", "-exit-stats"])
        #expect(r.status == 0)
        let line = try #require(r.stderr.split(separator: "\n").first { $0.hasPrefix("exit-stats:") })
        let fields = Dictionary(uniqueKeysWithValues: line.dropFirst("exit-stats: ".count).split(separator: " ").map {
            let kv = $0.split(separator: "=")
            return (String(kv[0]), UInt64(kv[1]) ?? 0)
        })
        #expect((fields["exits"] ?? 0) >= 1000)
        #expect((fields["median_ns"] ?? 0) > 0)
        #expect((fields["p99_ns"] ?? 0) >= (fields["median_ns"] ?? 0))
        #expect((fields["first_io_ns"] ?? 0) > 0)
    }

    @Test("-smp N: the BSP wakes the APs with INIT/SIPI and each reports over the UART", arguments: [1, 2, 4])
    func smpAPsReport(cpus: Int) throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("smp-test.bin"), "-smp", "\(cpus)"] + debugExitAtF4)
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("smp-test: \(cpus) cpus up"))
        for ap in 1..<cpus { #expect(r.stdout.contains("smp-test: ap \(ap) up")) }
    }

    @Test("-smp 2 boots: the second vCPU waits for SIPI and does not keep the VM alive")
    func twoVCPUs() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("hello.bin"), "-smp", "2"])
        #expect(r.stdout.contains("Hello from a real-mode guest"))
        #expect(r.stderr.contains("halted with interrupts disabled"))
        #expect(r.status == 0)
    }

    @Test("PIT: TSC calibration through channel 2 and port 0x61; channel 0 at 1 kHz gives IRQ 0 at about that rate")
    func pit() throws {
        let r = try runSwiftVMM(["-bios", TestEnvironment.firmware("pit-test.bin")] + debugExitAtF4)
        #expect(r.stdout.contains("pit-test: pass"), "\(r.stdout)")
        #expect(r.status == 1)
        let mhz = r.stdout.split(separator: "\n").first { $0.hasPrefix("pit-test: tsc-mhz=") }
            .flatMap { Int($0.dropFirst("pit-test: tsc-mhz=".count)) } ?? 0
        #expect(mhz > 100 && mhz < 10_000, "implausible TSC frequency \(mhz) MHz")
    }

    @Test("-S keeps the vCPUs from starting")
    func startPaused() throws {
        let p = try GuestProcess(executable: TestEnvironment.swiftvmm,
                                 arguments: ["-bios", TestEnvironment.firmware("hello.bin"), "-S"])
        #expect(!p.expect("Hello", timeout: 1.5))
        p.signal(SIGTERM)
        #expect(p.waitForExit() == 0)
        #expect(p.stdout.isEmpty)
    }
}
}
