import CSQLite3
import Foundation

/// The writer's VFS: the system's own, except that a WAL file's writes are gathered in memory and reach the file as
/// one `pwrite` just before it is synced (or read, sized, truncated, controlled or closed).
///
/// SQLite writes a commit's WAL frames one call for each 24-byte frame header and one for each page, 19 calls for the
/// 9 or so pages a command changes; each call pays a system call and the page cache's work for a partial page.
/// Gathered, a commit is one write of contiguous bytes (docs/PERFORMANCE.md, round 11). The bytes on disk, their
/// order and the moment they are made durable do not change: SQLite syncs the WAL before it publishes a commit in
/// the WAL index, so no reader is told of frames still in this buffer, and a failed write is reported by the sync
/// that commits them, which then fails the commit. That holds only with `synchronous=FULL`, which syncs every
/// commit: `Store.openForWriting` is the only user, and it sets FULL. Every other file (the database, the shared
/// memory index, journals) is the system VFS's own, opened in place.
///
/// A transaction that rolls back may leave frames here that it spilled (a large transaction writes pages to the WAL
/// before its commit). Left alone they would be written at the next read, perhaps over frames another connection of
/// this process (a reporting worker's writer) committed meanwhile. So each write to the WAL first drops what the
/// other connections gathered: the writer holds the WAL's write lock, so theirs can only be the remains of a
/// transaction that ended without a commit (one that commits has synced, which wrote them). Writes of other
/// processes are not seen here: the daemon is the only process that writes its store.
enum GatheringVFS {
    static let name = "symtui-gathering"

    /// Registered once, on first use; false when the system VFS could not be found (the writer then opens with it).
    static let registered: Bool = {
        // Finding a VFS initialises the library, after which it takes no more settings: those go first.
        _ = Database.libraryConfigured
        guard let system = sqlite3_vfs_find(nil) else { return false }
        GatheringVFS.system = system
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        vfs.initialize(to: system.pointee)
        vfs.pointee.pNext = nil
        vfs.pointee.zName = UnsafePointer(strdup(name))
        vfs.pointee.szOsFile = Int32(realOffset) + system.pointee.szOsFile
        vfs.pointee.xOpen = { vfs, name, file, flags, outFlags in GatheringVFS.open(name, file, flags, outFlags) }
        return sqlite3_vfs_register(vfs, 0) == SQLITE_OK
    }()

    /// The system's VFS, which every call is passed on to (set once, before registration).
    nonisolated(unsafe) private static var system: UnsafeMutablePointer<sqlite3_vfs>?

    /// Bytes gathered at most before they are written (a larger commit is written in pieces of this size). The
    /// system VFS takes at most 128 KiB − 1 bytes in one write (it masks the length to 17 bits, as no page is
    /// larger than 64 KiB): one command's commit is about 40 KiB, a batch of 64 about 160.
    static let capacity = 1 << 16

    /// The gathering files open in this process on one WAL: each file's `Gathered` holds its WAL's, so that a write
    /// finds the others without looking up the path. Changed and read under `lock`.
    final class Peers {
        let path: String
        var files: [UnsafeMutablePointer<sqlite3_file>] = []
        init(path: String) { self.path = path }
    }

    /// What a gathering file holds after its `sqlite3_file` header: the buffer and the range it covers.
    struct Gathered {
        /// The files open on the same WAL, this one among them.
        var peers: Peers
        var bytes: UnsafeMutableRawPointer
        /// File offset of `bytes[0]`.
        var start: Int64
        /// Bytes gathered (0: nothing waits).
        var count: Int
    }

    /// Where the system VFS's own file structure starts inside ours: after the header and `Gathered`.
    static let realOffset = (MemoryLayout<sqlite3_file>.stride + MemoryLayout<Gathered>.stride + 15) & ~15

    private static func state(_ file: UnsafeMutablePointer<sqlite3_file>) -> UnsafeMutablePointer<Gathered> {
        (UnsafeMutableRawPointer(file) + MemoryLayout<sqlite3_file>.stride).assumingMemoryBound(to: Gathered.self)
    }

    private static func real(_ file: UnsafeMutablePointer<sqlite3_file>) -> UnsafeMutablePointer<sqlite3_file> {
        (UnsafeMutableRawPointer(file) + realOffset).assumingMemoryBound(to: sqlite3_file.self)
    }

    private static func methods(_ file: UnsafeMutablePointer<sqlite3_file>) -> sqlite3_io_methods {
        real(file).pointee.pMethods.pointee
    }

    /// The gathering files open in this process, by WAL path (looked up when a file opens or closes); their buffers
    /// are filled, emptied and written under `lock`.
    nonisolated(unsafe) private static var openFiles: [String: Peers] = [:]
    private static let lock = NSLock()

    /// Empties the buffers of the other connections' files on `file`'s WAL (see the type's comment).
    private static func dropOthers(_ file: UnsafeMutablePointer<sqlite3_file>) {
        for other in state(file).pointee.peers.files where other != file { state(other).pointee.count = 0 }
    }

    private static func open(_ name: UnsafePointer<CChar>?, _ file: UnsafeMutablePointer<sqlite3_file>?, _ flags: Int32,
                             _ outFlags: UnsafeMutablePointer<Int32>?) -> Int32 {
        guard let system, let file else { return SQLITE_CANTOPEN }
        // Not a WAL: the system's file, laid out at the start of ours as if we were not here.
        guard flags & SQLITE_OPEN_WAL != 0 else { return system.pointee.xOpen(system, name, file, flags, outFlags) }
        file.pointee.pMethods = nil
        let inner = real(file)
        inner.pointee.pMethods = nil
        let rc = system.pointee.xOpen(system, name, inner, flags, outFlags)
        guard rc == SQLITE_OK, inner.pointee.pMethods != nil else {
            if inner.pointee.pMethods != nil { _ = inner.pointee.pMethods.pointee.xClose!(inner) }
            return rc == SQLITE_OK ? SQLITE_CANTOPEN : rc
        }
        let path = name.map { String(cString: $0) } ?? ""
        lock.withLock {
            let peers = openFiles[path] ?? Peers(path: path)
            openFiles[path] = peers
            peers.files.append(file)
            state(file).initialize(to: Gathered(peers: peers, bytes: UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 4096),
                                                start: 0, count: 0))
        }
        file.pointee.pMethods = UnsafePointer(gatheringMethods)
        return SQLITE_OK
    }

    /// Writes what is gathered; the write's result.
    private static func flush(_ file: UnsafeMutablePointer<sqlite3_file>) -> Int32 {
        lock.withLock { flushHoldingLock(file) }
    }

    /// Writes what `file` gathered, then makes `call` on the system's file with its methods (not when the write failed).
    private static func afterFlush(_ file: UnsafeMutablePointer<sqlite3_file>,
                                   _ call: (sqlite3_io_methods, UnsafeMutablePointer<sqlite3_file>) -> Int32) -> Int32 {
        let rc = flush(file)
        return rc != SQLITE_OK ? rc : call(methods(file), real(file))
    }

    private static func flushHoldingLock(_ file: UnsafeMutablePointer<sqlite3_file>) -> Int32 {
        let g = state(file)
        guard g.pointee.count > 0 else { return SQLITE_OK }
        let n = g.pointee.count
        g.pointee.count = 0
        return methods(file).xWrite!(real(file), g.pointee.bytes, Int32(n), g.pointee.start)
    }

    private static func write(_ file: UnsafeMutablePointer<sqlite3_file>, _ data: UnsafeRawPointer, _ amount: Int32,
                              _ offset: Int64) -> Int32 {
        lock.withLock {
            dropOthers(file)
            let g = state(file), n = Int(amount)
            // Continuing what is gathered, or writing over part of it (SQLite rewrites a frame of the transaction it
            // is writing when the same page changes again).
            if g.pointee.count > 0, offset >= g.pointee.start, offset <= g.pointee.start + Int64(g.pointee.count),
               Int(offset - g.pointee.start) + n <= capacity {
                let at = Int(offset - g.pointee.start)
                (g.pointee.bytes + at).copyMemory(from: data, byteCount: n)
                g.pointee.count = max(g.pointee.count, at + n)
                return SQLITE_OK
            }
            let rc = flushHoldingLock(file)
            guard rc == SQLITE_OK else { return rc }
            guard n <= capacity else { return methods(file).xWrite!(real(file), data, amount, offset) }
            g.pointee.bytes.copyMemory(from: data, byteCount: n)
            g.pointee.start = offset
            g.pointee.count = n
            return SQLITE_OK
        }
    }

    private static func close(_ file: UnsafeMutablePointer<sqlite3_file>) -> Int32 {
        let written = flush(file)
        let closed = methods(file).xClose!(real(file))
        lock.withLock {
            let peers = state(file).pointee.peers
            peers.files.removeAll { $0 == file }
            if peers.files.isEmpty { openFiles[peers.path] = nil }
        }
        state(file).pointee.bytes.deallocate()
        state(file).deinitialize(count: 1)
        file.pointee.pMethods = nil
        return written != SQLITE_OK ? written : closed
    }

    /// The methods of a gathering WAL file: what reads, sizes, syncs or changes the file writes what is gathered
    /// first; the rest goes straight to the system's file.
    nonisolated(unsafe) private static let gatheringMethods: UnsafeMutablePointer<sqlite3_io_methods> = {
        let m = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        m.initialize(to: sqlite3_io_methods(
            iVersion: 3,
            xClose: { f in GatheringVFS.close(f!) },
            xRead: { f, buffer, amount, offset in GatheringVFS.afterFlush(f!) { $0.xRead!($1, buffer, amount, offset) } },
            xWrite: { f, data, amount, offset in GatheringVFS.write(f!, data!, amount, offset) },
            xTruncate: { f, size in
                GatheringVFS.lock.withLock {
                    GatheringVFS.dropOthers(f!)
                    let rc = GatheringVFS.flushHoldingLock(f!)
                    return rc != SQLITE_OK ? rc : GatheringVFS.methods(f!).xTruncate!(GatheringVFS.real(f!), size)
                }
            },
            xSync: { f, flags in GatheringVFS.afterFlush(f!) { $0.xSync!($1, flags) } },
            xFileSize: { f, size in GatheringVFS.afterFlush(f!) { $0.xFileSize!($1, size) } },
            xLock: { f, level in GatheringVFS.methods(f!).xLock!(GatheringVFS.real(f!), level) },
            xUnlock: { f, level in GatheringVFS.methods(f!).xUnlock!(GatheringVFS.real(f!), level) },
            xCheckReservedLock: { f, out in GatheringVFS.methods(f!).xCheckReservedLock!(GatheringVFS.real(f!), out) },
            xFileControl: { f, op, arg in GatheringVFS.afterFlush(f!) { $0.xFileControl!($1, op, arg) } },
            xSectorSize: { f in GatheringVFS.methods(f!).xSectorSize!(GatheringVFS.real(f!)) },
            xDeviceCharacteristics: { f in GatheringVFS.methods(f!).xDeviceCharacteristics!(GatheringVFS.real(f!)) },
            xShmMap: { f, page, size, extend, out in
                GatheringVFS.methods(f!).xShmMap?(GatheringVFS.real(f!), page, size, extend, out) ?? SQLITE_IOERR
            },
            xShmLock: { f, offset, n, flags in
                GatheringVFS.methods(f!).xShmLock?(GatheringVFS.real(f!), offset, n, flags) ?? SQLITE_IOERR
            },
            xShmBarrier: { f in GatheringVFS.methods(f!).xShmBarrier?(GatheringVFS.real(f!)) },
            xShmUnmap: { f, delete in GatheringVFS.methods(f!).xShmUnmap?(GatheringVFS.real(f!), delete) ?? SQLITE_OK },
            xFetch: { f, offset, amount, out in
                // No memory map of a WAL: the caller then reads (which writes what is gathered first).
                out?.pointee = nil
                return SQLITE_OK
            },
            xUnfetch: { _, _, _ in SQLITE_OK }
        ))
        return m
    }()
}
