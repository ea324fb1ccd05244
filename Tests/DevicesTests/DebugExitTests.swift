@testable import Devices
import Synchronization
import Testing

@Suite("isa-debug-exit")
struct DebugExitTests {
    @Test("status is (v << 1) | 1 as in QEMU", arguments: [(UInt32(0), Int32(1)), (0x10, 0x21), (0x7F, 0xFF), (0x80, 0x101)])
    func status(value: UInt32, expected: Int32) {
        #expect(DebugExit.status(for: value) == expected)
    }

    @Test("a write reports the status; reads return 0")
    func write() {
        let got = Mutex<Int32?>(nil)
        let d = DebugExit { s in got.withLock { $0 = s } }
        #expect(d.ioRead(offset: 0, size: 1) == 0)
        #expect(got.withLock { $0 } == nil)
        d.ioWrite(offset: 0, size: 1, value: 0x10)
        #expect(got.withLock { $0 } == 0x21)
    }
}

@Suite("ByteRing")
struct ByteRingTests {
    @Test("bounded FIFO order, refuses when full, wraps around")
    func fifo() {
        var r = ByteRing(capacity: 3)
        let accepted = [r.push(1), r.push(2), r.push(3), r.push(4)]
        #expect(accepted == [true, true, true, false])
        let first = r.pop()
        #expect(first == 1)
        let wrapped = r.push(5)
        #expect(wrapped)
        let rest = [r.pop(), r.pop(), r.pop(), r.pop()]
        #expect(rest == [2, 3, 5, nil])
    }
}
