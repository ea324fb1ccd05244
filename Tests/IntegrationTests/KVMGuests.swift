import Testing

/// Every suite that runs guests on /dev/kvm, run one test at a time: the
/// Linux boot tests keep a core busy for minutes, and the PIT tests measure
/// real time from inside a guest, so they must not share a 2-core host.
@Suite("Guests on /dev/kvm", .serialized, .enabled(if: TestEnvironment.hasKVM, "skipped: no /dev/kvm"))
struct KVMGuests {}
