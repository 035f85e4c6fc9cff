import CHiredis
import Dispatch
import Foundation

/// One connection to a Redis server, wrapping a hiredis `redisContext`.
///
/// Every hiredis call runs on the connection's own serial `DispatchQueue`, never on Swift's
/// cooperative pool; async callers are bridged with a checked continuation. Every call has a
/// deadline: the connect timeout for `redisConnectWithTimeout`, and `redisSetTimeout` (socket send
/// and receive timeouts) before each command.
///
/// An I/O error, a timeout or a protocol error closes the connection: the reply stream is in an
/// unknown state and the context cannot be reused. A server error reply leaves it open.
///
/// `@unchecked Sendable` — this is the documented handle wrapper. Its invariants:
/// - `context` and `closing` are read and written only while holding `lock`;
/// - the context is dereferenced by hiredis calls only on `queue` (one at a time), apart from
///   `close()` reading the immutable file descriptor under `lock` to shut the socket down;
/// - the context is freed in exactly one place, `releaseContext()`, which runs on `queue` or in
///   `deinit` (when no queue work can hold `self` any more), so an in-flight call never sees it
///   freed.
public final class RedisConnection: @unchecked Sendable {
    public let endpoint: RedisEndpoint

    private let queue: DispatchQueue
    private let lock = NSLock()
    private var context: UnsafeMutablePointer<redisContext>?
    private var closing = false

    private init(endpoint: RedisEndpoint) {
        self.endpoint = endpoint
        self.queue = DispatchQueue(label: "changeover.redis.connection.\(endpoint)")
    }

    deinit {
        releaseContext()
    }

    /// Connects within `timeout`, then sends `AUTH [user] password` when the endpoint has a
    /// password. A rejected `AUTH` throws `.authenticationFailed` with the server's message; a
    /// connect that does not finish in time throws `.timeout`; other connect failures throw
    /// `.connectionFailed`.
    public static func connect(
        _ endpoint: RedisEndpoint, timeout: Duration
    ) async throws(RedisError) -> RedisConnection {
        let connection = RedisConnection(endpoint: endpoint)
        try await connection.onQueue { () throws(RedisError) in
            try connection.open(timeout: timeout)
        }
        return connection
    }

    /// Sends a command given as UTF-8 strings. See `command(bytes:timeout:)`.
    public func command(_ arguments: [String], timeout: Duration) async throws(RedisError)
        -> RedisReply
    {
        try await command(bytes: arguments.map { Array($0.utf8) }, timeout: timeout)
    }

    /// Sends a binary-safe command and waits at most `timeout` for its reply.
    ///
    /// A top-level error reply throws `.serverError` with the server's message and leaves the
    /// connection open; error replies nested in arrays (e.g. from `EXEC`) are returned as
    /// `.error`. A timeout closes the connection and throws `.timeout`; an I/O error or a closed
    /// connection throws `.connectionClosed`.
    public func command(bytes arguments: [[UInt8]], timeout: Duration) async throws(RedisError)
        -> RedisReply
    {
        try await onQueue { () throws(RedisError) in
            try self.execute(arguments, timeout: timeout)
        }
    }

    /// Closes the connection. Idempotent. A command in flight fails with `.connectionClosed`.
    public func close() {
        let shutDown = lock.withLock { () -> Bool in
            guard let context, !closing else { return false }
            closing = true
            // Wakes a command blocked in read(); the context itself is freed on the queue.
            _ = shutdown(context.pointee.fd, Int32(SHUT_RDWR))
            return true
        }
        if shutDown {
            queue.async { self.releaseContext() }
        }
    }

    public var isOpen: Bool {
        lock.withLock { context != nil && !closing }
    }

    // MARK: - On the queue

    /// Runs `body` on the connection's queue, off the cooperative pool.
    private func onQueue<T: Sendable>(
        _ body: @escaping @Sendable () throws(RedisError) -> T
    ) async throws(RedisError) -> T {
        let result = await withCheckedContinuation {
            (continuation: CheckedContinuation<Result<T, RedisError>, Never>) in
            queue.async {
                do throws(RedisError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    private func open(timeout: Duration) throws(RedisError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var savedErrno: Int32 = 0
        let newContext = endpoint.host.withCString { host in
            let context = redisConnectWithTimeout(host, Int32(clamping: endpoint.port), timeval(timeout))
            savedErrno = errno
            return context
        }
        guard let newContext else {
            throw RedisError(
                code: .connectionFailed, message: "could not allocate a hiredis context",
                endpoint: endpoint.description)
        }
        lock.withLock { context = newContext }
        if newContext.pointee.err != 0 {
            throw failure(newContext, errno: savedErrno, connecting: true, timeout: timeout)
        }
        guard let password = endpoint.password else { return }
        let remaining = deadline - clock.now
        guard remaining > .zero else {
            releaseContext()
            throw RedisError(
                code: .timeout, message: "no time left to authenticate within \(timeout)",
                endpoint: endpoint.description)
        }
        var auth: [[UInt8]] = [Array("AUTH".utf8)]
        if let user = endpoint.user { auth.append(Array(user.utf8)) }
        auth.append(Array(password.utf8))
        do {
            _ = try execute(auth, timeout: remaining)
        } catch  where error.code == .serverError {
            releaseContext()
            throw RedisError(
                code: .authenticationFailed, message: error.message, endpoint: endpoint.description)
        }
    }

    private func execute(_ arguments: [[UInt8]], timeout: Duration) throws(RedisError)
        -> RedisReply
    {
        guard !arguments.isEmpty else {
            throw RedisError(
                code: .protocolError, message: "a command needs at least one argument",
                endpoint: endpoint.description)
        }
        guard let context = lock.withLock({ closing ? nil : context }) else {
            throw RedisError(
                code: .connectionClosed, message: "the connection is closed",
                endpoint: endpoint.description)
        }
        if redisSetTimeout(context, timeval(timeout)) != REDIS_OK {
            throw failure(context, errno: errno, connecting: false, timeout: timeout)
        }
        var savedErrno: Int32 = 0
        let raw = Self.withArgv(arguments) { argc, argv, lengths in
            let raw = redisCommandArgv(context, argc, argv, lengths)
            savedErrno = errno
            return raw
        }
        guard let raw else {
            throw failure(context, errno: savedErrno, connecting: false, timeout: timeout)
        }
        defer { freeReplyObject(raw) }
        let reply: RedisReply
        do {
            reply = try RedisReply(converting: raw.assumingMemoryBound(to: redisReply.self))
        } catch {
            releaseContext()
            throw RedisError(code: error.code, message: error.message, endpoint: endpoint.description)
        }
        if case .error(let message) = reply {
            throw RedisError(code: .serverError, message: message, endpoint: endpoint.description)
        }
        return reply
    }

    /// The one place hiredis context errors (`c->err`, `c->errstr`) become `RedisError`. The
    /// context is unusable afterwards, so this also releases it.
    private func failure(
        _ context: UnsafeMutablePointer<redisContext>, errno savedErrno: Int32, connecting: Bool,
        timeout: Duration
    ) -> RedisError {
        let err = context.pointee.err
        let text = withUnsafeBytes(of: context.pointee.errstr) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
        let closedByUs = lock.withLock { closing }
        // The command's fate is unknown: reset the socket rather than close it, so that bytes
        // the kernel still holds (the command, perhaps) are dropped instead of delivered once a
        // cut link heals — a CLIENT PAUSE that timed out must not pause the server later.
        resetOnClose(context.pointee.fd)
        releaseContext()

        let timedOut =
            err == REDIS_ERR_IO
            && [EAGAIN, EWOULDBLOCK, ETIMEDOUT, EINPROGRESS].contains(savedErrno)
        let code: RedisError.Code
        var message = text.isEmpty ? "hiredis error \(err)" : text
        if closedByUs {
            code = .connectionClosed
            message = "the connection was closed while a command was in flight"
        } else if timedOut {
            code = .timeout
            message = "no \(connecting ? "connection" : "reply") within \(timeout) (\(message))"
        } else if connecting {
            code = .connectionFailed
        } else {
            switch err {
            case REDIS_ERR_PROTOCOL, REDIS_ERR_OTHER: code = .protocolError
            default: code = .connectionClosed  // REDIS_ERR_EOF, REDIS_ERR_IO, REDIS_ERR_OOM
            }
        }
        return RedisError(code: code, message: message, endpoint: endpoint.description)
    }

    /// The one place the context is freed.
    private func releaseContext() {
        lock.withLock {
            if let context {
                redisFree(context)
                self.context = nil
            }
            closing = true
        }
    }

    /// Copies the arguments into C buffers for `redisCommandArgv`, which is binary-safe.
    private static func withArgv<R>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        let argv = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: arguments.count)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: arguments.count)
        var buffers: [UnsafeMutablePointer<CChar>] = []
        buffers.reserveCapacity(arguments.count)
        defer {
            for buffer in buffers { buffer.deallocate() }
            lengths.deallocate()
            argv.deallocate()
        }
        for (index, argument) in arguments.enumerated() {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
            buffers.append(buffer)
            argument.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(
                    from: bytes.baseAddress ?? UnsafeRawPointer(buffer), byteCount: bytes.count)
            }
            argv[index] = UnsafePointer(buffer)
            lengths[index] = argument.count
        }
        return body(Int32(arguments.count), argv, lengths)
    }
}

extension timeval {
    /// A socket timeout for `duration`, at least 1 ms: a zero `timeval` would mean "wait forever".
    fileprivate init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let microseconds = attoseconds / 1_000_000_000_000
        if seconds < 0 || (seconds == 0 && microseconds < 1_000) {
            self.init(tv_sec: 0, tv_usec: 1_000)
        } else {
            self.init(tv_sec: Int(seconds), tv_usec: Int(microseconds))
        }
    }
}

/// Makes `close(fd)` send a reset and drop unsent data (SO_LINGER with a zero timeout).
func resetOnClose(_ fd: Int32) {
    guard fd >= 0 else { return }
    var linger = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
}
