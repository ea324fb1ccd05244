import Glibc

/// Image locking as QEMU does it (block/file-posix.c, raw_apply_lock_bytes
/// and raw_check_lock_bytes), so QEMU and SwiftVMM see each other's locks:
/// open-file-description (OFD) byte-range locks, one byte per block
/// permission. A user of the image takes a shared lock on byte 100 + bit for
/// each permission it uses, and on byte 200 + bit for each permission it
/// does not let others have. It may open the image only if nobody holds
/// 200 + bit for a permission it uses, nor 100 + bit for one it denies.
///
/// A virtio-blk disk, like QEMU's (hw/block/block.c, share-rw=off; a
/// resizable device shares resize), uses consistent-read, plus write when
/// read-write, and denies write to others. So two writers, or a reader and
/// a writer, exclude each other; readers share. (Seen in /proc/locks with
/// QEMU 7.2 holding a read-write virtio-blk image: bytes 100-101 and 201.)
enum ImageLock {
    /// BLK_PERM_* bits (include/block/block-common.h).
    struct Permissions: OptionSet {
        let rawValue: Int
        static let consistentRead = Permissions(rawValue: 1 << 0)
        static let write = Permissions(rawValue: 1 << 1)
        static let writeUnchanged = Permissions(rawValue: 1 << 2)
        static let resize = Permissions(rawValue: 1 << 3)
        static let all: [(Permissions, String)] = [(.consistentRead, "consistent read"), (.write, "write"),
                                                   (.writeUnchanged, "write unchanged"), (.resize, "resize")]
    }

    static let permissionBase: off_t = 100  // RAW_LOCK_PERM_BASE
    static let sharedBase: off_t = 200      // RAW_LOCK_SHARED_BASE
    // <fcntl.h> (F_OFD_GETLK, F_OFD_SETLK): not in Swift's Glibc module.
    static let getLock: Int32 = 36
    static let setLock: Int32 = 37

    /// Why the image cannot be locked, in QEMU's words: the permission name,
    /// and whether it was one we deny others (QEMU: a "shared" lock).
    enum Conflict: Error, Equatable {
        case held(String, shared: Bool)
        case failed(errno: Int32)
    }

    /// Takes the locks of a disk on `fd`, or reports the first conflict.
    static func lockDisk(fd: Int32, readOnly: Bool) throws(Conflict) {
        let used: Permissions = readOnly ? [.consistentRead] : [.consistentRead, .write]
        let denied: Permissions = [.write]
        for (p, _) in Permissions.all {
            if used.contains(p) { try set(fd, at: permissionBase + off_t(p.rawValue.trailingZeroBitCount)) }
            if denied.contains(p) { try set(fd, at: sharedBase + off_t(p.rawValue.trailingZeroBitCount)) }
        }
        for (p, name) in Permissions.all {
            let bit = off_t(p.rawValue.trailingZeroBitCount)
            // Someone denies what we use, or uses what we deny.
            if used.contains(p), try heldByOthers(fd, at: sharedBase + bit) { throw .held(name, shared: false) }
            if denied.contains(p), try heldByOthers(fd, at: permissionBase + bit) { throw .held(name, shared: true) }
        }
    }

    /// A struct flock for one byte.
    private static func record(_ type: Int32, at byte: off_t) -> flock {
        var l = flock()
        l.l_type = Int16(type)
        l.l_whence = Int16(SEEK_SET)
        l.l_start = byte
        l.l_len = 1
        return l
    }

    private static func set(_ fd: Int32, at byte: off_t) throws(Conflict) {
        var l = record(F_RDLCK, at: byte)
        guard fcntl(fd, setLock, &l) == 0 else { throw .failed(errno: errno) }
    }

    /// Whether another open file description holds a lock on `byte`
    /// (F_OFD_GETLK with a write lock: ours never conflict with ourselves).
    private static func heldByOthers(_ fd: Int32, at byte: off_t) throws(Conflict) -> Bool {
        var l = record(F_WRLCK, at: byte)
        guard fcntl(fd, getLock, &l) == 0 else { throw .failed(errno: errno) }
        return l.l_type != Int16(F_UNLCK)
    }
}
