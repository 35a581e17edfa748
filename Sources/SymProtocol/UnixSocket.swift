import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A stream socket connection carrying one JSON object per line. One thread reads; a line may be written from another
/// (the daemon answers a change from the thread that completes it), but never two writes at once.
public final class LineConnection: @unchecked Sendable {
    public let fd: Int32
    private var buffer = [UInt8]()
    /// Where `read` lands, allocated once per connection (a fresh 64 KiB array per line was a zero-filled allocation
    /// for every command the daemon read).
    private let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
    /// The longest line the daemon reads from a caller.
    public static let maxLine = 1 << 20
    /// The longest line this end accepts (a client reading paged answers allows more than the daemon does).
    public var lineLimit = LineConnection.maxLine

    /// Seconds a read may wait (SO_RCVTIMEO); 0 waits for ever.
    public private(set) var receiveTimeout = 0

    private var owned = true

    /// When set, a read that finds no whole line polls the socket for a while before it sleeps (a server's side;
    /// see `PollBeforeSleep`).
    public var pollBeforeSleep: PollBeforeSleep?

    public init(fd: Int32) { self.fd = fd }

    /// Hands the descriptor over (it is no longer closed with this connection); the daemon's change feed takes
    /// subscribed connections this way.
    public func release() -> Int32 {
        owned = false
        return fd
    }

    /// The bytes read past the last line returned (a client switching to reading the descriptor itself takes them).
    public func takeBuffered() -> [UInt8] {
        defer { buffer.removeAll() }
        return buffer
    }

    /// Makes reads give up after `seconds` (a client must not hang on a stopped daemon).
    public func setReceiveTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        receiveTimeout = seconds
    }
    deinit {
        if owned { close(fd) }
        chunk.deallocate()
    }

    /// The next line without its newline; nil at end of stream. Throws on an over-long line.
    public func readLine() throws -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            if buffer.count > lineLimit { throw SocketError("line longer than \(lineLimit) bytes") }
            let n = receive()
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK { throw SocketError("no answer within \(receiveTimeout) s", errno: errno) }
                throw SocketError("read: \(String(cString: strerror(errno)))")
            }
            if n == 0 {
                if buffer.isEmpty { return nil }
                let line = String(decoding: buffer, as: UTF8.self)
                buffer.removeAll()
                return line
            }
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
        }
    }

    /// Reads what the socket has into `chunk`, as `read(2)` does: first polling without sleeping for
    /// `pollBeforeSleep`'s window when it allows, then waiting. -1 leaves the reason in `errno`.
    private func receive() -> Int {
        if let poll = pollBeforeSleep, poll.mayPoll() {
            let deadline = monotonicNanos() + poll.window
            while true {
                let n = recv(fd, chunk.baseAddress, chunk.count, Int32(MSG_DONTWAIT))
                if n >= 0 { return n }
                if errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return n }
                if monotonicNanos() >= deadline { break }
                // Gives the core to anything else ready on it, the caller among them when it runs on this core.
                sched_yield()
            }
        }
        return read(fd, chunk.baseAddress, chunk.count)
    }

    /// Writes `text` and a newline with one `writev` (no copy of the text joined to its newline), again for what a
    /// short write left.
    public func writeLine(_ text: String) throws {
        _ = try sendLine(text, waiting: true)
    }

    /// Writes as much of `text` and its newline as the socket takes now, without waiting for a client that does not
    /// read; returns the bytes that are still to be written (none when all went), for `write(rest:)`.
    public func writeLineWithoutWaiting(_ text: String) throws -> [UInt8] {
        try sendLine(text, waiting: false)
    }

    /// Writes what `writeLineWithoutWaiting` left, waiting as long as it takes.
    public func write(rest: [UInt8]) throws {
        var off = 0
        while off < rest.count {
            let n = rest.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 { if errno == EINTR { continue }; throw SocketError("write: \(String(cString: strerror(errno)))") }
            off += n
        }
    }

    /// The line's bytes from `text` and a newline, written with `writev` (waiting) or `sendmsg(MSG_DONTWAIT)`; what
    /// is left when the socket would block.
    private func sendLine(_ text: String, waiting: Bool) throws -> [UInt8] {
        var text = text
        return try text.withUTF8 { body in
            var newline: UInt8 = 0x0A
            let total = body.count + 1
            var off = 0
            while off < total {
                let n: Int = withUnsafeMutablePointer(to: &newline) { nl in
                    let tail = iovec(iov_base: UnsafeMutableRawPointer(nl), iov_len: 1)
                    let head = off < body.count
                        ? iovec(iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + off), iov_len: body.count - off) : tail
                    var iov = (head, tail)
                    let count = off < body.count ? 2 : 1
                    return withUnsafeMutablePointer(to: &iov) {
                        $0.withMemoryRebound(to: iovec.self, capacity: 2) { vec in
                            if waiting { return writev(fd, vec, Int32(count)) }
                            var message = msghdr()
                            message.msg_iov = vec
                            message.msg_iovlen = count
                            return sendmsg(fd, &message, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                        }
                    }
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    if !waiting && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                    throw SocketError("write: \(String(cString: strerror(errno)))")
                }
                off += n
            }
            if off >= total { return [] }
            return off < body.count ? Array(body[off...]) + [0x0A] : [0x0A]
        }
    }

    /// The connected peer's uid as the kernel reports it (SO_PEERCRED).
    public func peerUID() -> uid_t? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, 17 /* SO_PEERCRED */, &cred, &len) == 0 else { return nil }
        return cred.1
    }
}

/// A socket-level failure.
public struct SocketError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var errno: Int32
    public init(_ message: String, errno: Int32 = 0) { self.message = message; self.errno = errno }
    public var description: String { message }
}

enum UnixAddress {
    static func make(_ path: String) throws -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else {
            throw SocketError("socket path \(path) is \(bytes.count) bytes; Unix sockets allow \(capacity - 1)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }
}

/// A new stream socket on which `call` (connect or bind) succeeded for `path`; closed again when it failed.
private func unixSocket(_ path: String, _ action: String,
                        _ call: (Int32, UnsafePointer<sockaddr>, socklen_t) -> Int32) throws -> Int32 {
    var addr = try UnixAddress.make(path)
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SocketError("socket: \(String(cString: strerror(errno)))", errno: errno) }
    let rc = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else {
        let e = errno
        close(fd)
        throw SocketError("cannot \(action) \(path): \(String(cString: strerror(e)))", errno: e)
    }
    return fd
}

/// Connects to a listening Unix socket.
public func connectUnixSocket(_ path: String) throws -> LineConnection {
    LineConnection(fd: try unixSocket(path, "connect to") { connect($0, $1, $2) })
}

/// Binds and listens on a Unix socket path, replacing a stale socket file.
public func listenUnixSocket(_ path: String, mode: mode_t) throws -> Int32 {
    _ = try UnixAddress.make(path)   // a path too long is refused before a stale socket is removed
    var st = stat()
    if lstat(path, &st) == 0 {
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw SocketError("\(path) exists and is not a socket; not replacing it") }
        unlink(path)
    }
    let fd = try unixSocket(path, "bind") { bind($0, $1, $2) }
    chmod(path, mode)
    guard listen(fd, 128) == 0 else { close(fd); throw SocketError("listen: \(String(cString: strerror(errno)))") }
    return fd
}

/// How long a server's read of the next line polls the socket before the thread sleeps, and whether it may now.
///
/// A caller that sends its next line as soon as it has read an answer (a script, a client in a loop) then finds the
/// serving thread still awake: the kernel has no sleeping thread to wake on another core, which on a virtual
/// machine is a good part of a round trip (docs/PERFORMANCE.md, round 11). The price is at most `window` of CPU per
/// answer, spent yielding; `mayPoll` lets the server keep it to when polling is cheap (the daemon: a connection
/// served alone, since with others connected the cores have their commands to run).
public struct PollBeforeSleep: Sendable {
    /// Nanoseconds to poll.
    public let window: Int64
    /// Asked once per read that finds no line.
    public let mayPoll: @Sendable () -> Bool

    public init(window: Int64, mayPoll: @escaping @Sendable () -> Bool) {
        self.window = window
        self.mayPoll = mayPoll
    }
}

/// Nanoseconds on CLOCK_MONOTONIC (deadlines that a change of the wall clock does not move).
func monotonicNanos() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}
