import CLibPQ
import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One libpq connection: the documented handle wrapper of this module.
///
/// It owns the `PGconn*` (and its `PGcancel*`) and frees them in exactly one place,
/// `releaseHandle()`, also when connecting fails. Every libpq call runs on the connection's own
/// serial `DispatchQueue` using libpq's non-blocking API and `poll(2)`, so no blocking call ever
/// runs on Swift's cooperative pool. Every call has a deadline: on expiry a query is cancelled
/// server-side and drained, and `.timeout` is thrown. Task cancellation cancels the query the
/// same way and throws `.cancelled`. Calls on one connection run one after another.
///
/// `@unchecked Sendable`: the C handles are touched only on `queue` (or in `deinit`, when nothing
/// else can reach them); all other mutable state is behind `state`'s mutex.
public final class PostgresConnection: @unchecked Sendable {
    /// `host:port` of the server, for errors and logs.
    public let endpoint: String

    private let queue: DispatchQueue
    /// A self-pipe that wakes a waiting `poll(2)` for cancellation and `close()`.
    private let wakeReader: Int32
    private let wakeWriter: Int32
    private let state = Mutex(State())

    /// Only on `queue`.
    private var handle: OpaquePointer?
    /// Only on `queue`.
    private var cancelHandle: OpaquePointer?

    private struct State {
        var closed = false
        var serverVersion = 0
        var nextOperation: UInt64 = 0
        var running: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    fileprivate init(endpoint: String) throws(PostgresError) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw PostgresError(
                code: .connectionFailed, message: "could not create a wake-up pipe (errno \(errno))",
                endpoint: endpoint)
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        self.endpoint = endpoint
        self.wakeReader = fds[0]
        self.wakeWriter = fds[1]
        self.queue = DispatchQueue(label: "PostgresConnection \(endpoint)")
    }

    deinit {
        releaseHandle()
        closeDescriptor(wakeReader)
        closeDescriptor(wakeWriter)
    }

    // MARK: Public API

    /// Connects with `PQconnectStartParams` (the parameters as given, `expand_dbname=0`) and
    /// `PQconnectPoll`, giving up at `timeout`.
    public static func connect(_ info: ConnInfo, timeout: Duration) async throws(PostgresError)
        -> PostgresConnection
    {
        let connection = try PostgresConnection(endpoint: info.endpoint)
        let deadline = ContinuousClock.now + timeout
        try await connection.run { operation in
            connection.establish(info, deadline: deadline, timeout: timeout, operation: operation)
        }.get()
        return connection
    }

    /// Runs one statement with `PQsendQueryParams` (extended protocol, text format).
    /// `nil` parameters are SQL NULL.
    public func query(_ sql: String, _ parameters: [String?] = [], timeout: Duration)
        async throws(PostgresError) -> PostgresResult
    {
        let deadline = ContinuousClock.now + timeout
        let results = try await run { operation in
            self.execute(.extended(sql, parameters), deadline: deadline, timeout: timeout, operation: operation)
        }.get()
        return results.last ?? PostgresResult(columns: [], rows: [], commandTag: "", affectedRows: nil)
    }

    /// Runs `sql` with `PQsendQuery` (simple protocol): several statements, replication commands,
    /// admin consoles that reject the extended protocol. One result per statement.
    public func simpleQuery(_ sql: String, timeout: Duration) async throws(PostgresError) -> [PostgresResult] {
        let deadline = ContinuousClock.now + timeout
        return try await run { operation in
            self.execute(.simple(sql), deadline: deadline, timeout: timeout, operation: operation)
        }.get()
    }

    /// Closes the connection. Idempotent; a call in progress is interrupted and throws
    /// `.connectionClosed`. The handle is freed on the connection's queue right after.
    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.closed = true }
            return !state.closed
        }
        guard wasOpen else { return }
        wake()
        queue.async { self.releaseHandle() }
    }

    /// `false` after `close()` or once a call found the connection lost.
    public var isOpen: Bool {
        state.withLock { !$0.closed }
    }

    /// `PQserverVersion`, e.g. 150004.
    public var serverVersion: Int {
        state.withLock { $0.serverVersion }
    }

    // MARK: Blocking callers

    /// Connects like `connect`, for a caller that may block its thread: the work runs on the
    /// connection's own queue and the caller waits for it (at most `timeout`). Never call it on
    /// Swift's cooperative pool where a wait of that length matters.
    public static func connectBlocking(_ info: ConnInfo, timeout: Duration) throws(PostgresError) -> PostgresConnection
    {
        let connection = try PostgresConnection(endpoint: info.endpoint)
        let deadline = ContinuousClock.now + timeout
        try connection.queue.sync {
            connection.establish(info, deadline: deadline, timeout: timeout, operation: connection.blockingOperation())
        }.get()
        return connection
    }

    /// Runs `body` on the connection's queue while the caller waits: the statements it sends
    /// through the session run back to back, with nothing else of this connection between them
    /// (a transaction), each within what is left of `timeout`.
    public func blocking<T>(timeout: Duration, _ body: (BlockingSession) throws -> T) throws -> T {
        let session = BlockingSession(
            connection: self, deadline: .now + timeout, timeout: timeout, operation: blockingOperation())
        return try queue.sync { try body(session) }
    }

    /// A number for a blocking call: never cancelled (only `close()` interrupts it).
    private func blockingOperation() -> UInt64 {
        state.withLock { state in
            state.nextOperation += 1
            return state.nextOperation
        }
    }

    // MARK: Bridging to async

    /// Runs `body` on `queue`, with task cancellation routed to the operation.
    private func run<T: Sendable>(_ body: @escaping @Sendable (UInt64) -> Result<T, PostgresError>) async
        -> Result<T, PostgresError>
    {
        let operation = state.withLock { state in
            state.nextOperation += 1
            state.running.insert(state.nextOperation)
            return state.nextOperation
        }
        defer {
            state.withLock { state in
                state.running.remove(operation)
                state.cancelled.remove(operation)
            }
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, PostgresError>, Never>) in
                queue.async { continuation.resume(returning: body(operation)) }
            }
        } onCancel: {
            let wasRunning = self.state.withLock { state in
                guard state.running.contains(operation) else { return false }
                state.cancelled.insert(operation)
                return true
            }
            if wasRunning { self.wake() }
        }
    }

    // MARK: On the queue

    fileprivate func establish(
        _ info: ConnInfo, deadline: ContinuousClock.Instant, timeout: Duration, operation: UInt64
    )
        -> Result<Void, PostgresError>
    {
        let started = withCStrings(info.parameters.map(\.key)) { keywords in
            withCStrings(info.parameters.map(\.value)) { values in PQconnectStartParams(keywords, values, 0) }
        }
        guard let conn = started else {
            return .failure(error(.connectionFailed, "libpq could not allocate a connection"))
        }
        handle = conn
        // libpq's default notice processor prints to stderr: server notices and the FATAL a
        // server sends as it shuts down would reach the operator's terminal unasked.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        func fail(_ error: PostgresError) -> Result<Void, PostgresError> {
            releaseHandle()
            return .failure(error)
        }
        func connectError() -> PostgresError {
            .connecting(conn, endpoint: endpoint, secret: info["password"])
        }
        if PQstatus(conn) == CONNECTION_BAD {
            return fail(connectError())
        }
        var polling = PGRES_POLLING_WRITING
        while polling != PGRES_POLLING_OK {
            if polling == PGRES_POLLING_FAILED {
                return fail(connectError())
            }
            switch interruption(operation) {
            case .cancelled: return fail(error(.cancelled, "connecting was cancelled"))
            case .closedByCaller: return fail(error(.connectionClosed, "the connection was closed while connecting"))
            default: break
            }
            let socket = PQsocket(conn)
            guard socket >= 0 else { return fail(connectError()) }
            let events = polling == PGRES_POLLING_READING ? POLLIN : POLLOUT
            switch wait(socket, events: Int16(events), until: deadline) {
            case .timedOut: return fail(error(.timeout, "could not connect within \(milliseconds(timeout))"))
            case .woken: continue
            case .ready: polling = PQconnectPoll(conn)
            }
        }
        _ = PQsetnonblocking(conn, 1)
        cancelHandle = PQgetCancel(conn)
        let version = Int(PQserverVersion(conn))
        state.withLock { $0.serverVersion = version }
        return .success(())
    }

    fileprivate enum Statement {
        case extended(String, [String?])
        case simple(String)
    }

    fileprivate func execute(
        _ statement: Statement, deadline: ContinuousClock.Instant, timeout: Duration, operation: UInt64
    ) -> Result<[PostgresResult], PostgresError> {
        guard let conn = handle, isOpen else {
            return .failure(error(.connectionClosed, "the connection is closed"))
        }
        if interruption(operation) == .cancelled {
            return .failure(error(.cancelled, "the query was cancelled before it was sent"))
        }
        drainWakePipe()
        let sent: Int32
        switch statement {
        case .simple(let sql):
            sent = PQsendQuery(conn, sql)
        case .extended(let sql, let parameters):
            sent = withCStrings(parameters) { values in
                PQsendQueryParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
            }
        }
        guard sent == 1 else {
            let failure = PostgresError.connection(conn, code: .queryFailed, endpoint: endpoint)
            if PQstatus(conn) != CONNECTION_OK { releaseHandle() }
            return .failure(failure)
        }

        var results: [PostgresResult] = []
        var failure: PostgresError?
        let outcome = pump(conn, until: deadline, operation: operation) { result in
            switch PQresultStatus(result) {
            case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
                results.append(PostgresResult(copying: result))
            case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
                return false
            default:
                if failure == nil { failure = .result(result, endpoint: endpoint) }
            }
            return true
        }

        switch outcome {
        case .finished:
            if PQstatus(conn) != CONNECTION_OK {
                let lost =
                    failure.map {
                        PostgresError(
                            code: .connectionClosed, message: $0.message, sqlState: $0.sqlState, endpoint: endpoint)
                    } ?? .connection(conn, code: .connectionClosed, endpoint: endpoint)
                releaseHandle()
                return .failure(lost)
            }
            if let failure { return .failure(failure) }
            return .success(results)
        case .timedOut:
            return .failure(abandon(conn, error(.timeout, "the query did not finish within \(milliseconds(timeout))")))
        case .cancelled:
            return .failure(abandon(conn, error(.cancelled, "the query was cancelled")))
        case .closedByCaller:
            releaseHandle()
            return .failure(error(.connectionClosed, "the connection was closed during the query"))
        case .lost:
            let lost = PostgresError.connection(conn, code: .connectionClosed, endpoint: endpoint)
            releaseHandle(abortive: true)
            return .failure(lost)
        case .unsupported:
            releaseHandle()
            return .failure(error(.queryFailed, "COPY and replication streaming are not supported; connection closed"))
        }
    }

    /// Cancels the running query server-side and drains its results for a short grace period.
    /// The connection stays open only if the drain completes.
    private func abandon(_ conn: OpaquePointer, _ failure: PostgresError) -> PostgresError {
        let cancelSent = Self.sendCancel(conn, within: .seconds(1))
        let drained =
            cancelSent
            ? pump(conn, until: .now + .seconds(1), operation: nil) { result in
                let status = PQresultStatus(result)
                return status != PGRES_COPY_IN && status != PGRES_COPY_OUT && status != PGRES_COPY_BOTH
            } : .lost
        if drained != .finished || PQstatus(conn) != CONNECTION_OK {
            releaseHandle(abortive: true)
        }
        return failure
    }

    /// Sends a cancel request with a deadline. PQcancel waits for the server to close the cancel
    /// connection and has no timeout of its own: a frozen or unreachable server would hold this
    /// queue forever. It runs on a thread of its own with its own PGcancel, which that thread
    /// frees; after the deadline the caller goes on as if the cancel failed.
    private static func sendCancel(_ conn: OpaquePointer, within deadline: Duration) -> Bool {
        guard let cancel = PQgetCancel(conn) else { return false }
        nonisolated(unsafe) let owned = cancel
        final class Outcome: Sendable { let sent = Mutex<Bool>(false) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var buffer = [CChar](repeating: 0, count: 256)
            let sent = PQcancel(owned, &buffer, Int32(buffer.count)) == 1
            PQfreeCancel(owned)
            outcome.sent.withLock { $0 = sent }
            done.signal()
        }
        let seconds = Double(deadline.components.seconds) + Double(deadline.components.attoseconds) / 1e18
        guard done.wait(timeout: .now() + seconds) == .success else { return false }
        return outcome.sent.withLock { $0 }
    }

    private enum PumpOutcome: Equatable {
        case finished, timedOut, cancelled, closedByCaller, lost, unsupported
    }

    /// Flushes, reads and hands every `PGresult` to `onResult` (which returns `false` to stop)
    /// until libpq has no more results. Each result is freed here, after `onResult` returns.
    private func pump(
        _ conn: OpaquePointer, until deadline: ContinuousClock.Instant, operation: UInt64?,
        onResult: (OpaquePointer) -> Bool
    ) -> PumpOutcome {
        while true {
            if let interrupted = interruption(operation) { return interrupted }
            let flushed = PQflush(conn)
            if flushed < 0 { return .lost }
            if flushed == 0, PQisBusy(conn) == 0 {
                guard let result = PQgetResult(conn) else { return .finished }
                defer { PQclear(result) }
                if !onResult(result) { return .unsupported }
                continue
            }
            let socket = PQsocket(conn)
            guard socket >= 0 else { return .lost }
            let events = flushed == 1 ? POLLIN | POLLOUT : POLLIN
            switch wait(socket, events: Int16(events), until: deadline) {
            case .timedOut: return .timedOut
            case .woken: continue
            case .ready: if PQconsumeInput(conn) == 0 { return .lost }
            }
        }
    }

    private enum WaitOutcome { case ready, timedOut, woken }

    /// `poll(2)` on the libpq socket and the wake pipe until ready, woken or `deadline`.
    private func wait(_ socket: Int32, events: Int16, until deadline: ContinuousClock.Instant) -> WaitOutcome {
        while true {
            let remaining = deadline - .now
            if remaining <= .zero { return .timedOut }
            let (seconds, attoseconds) = remaining.components
            let millis = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
            var fds = [
                pollfd(fd: socket, events: events, revents: 0),
                pollfd(fd: wakeReader, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, Int32(clamping: millis))
            if ready < 0 {
                if errno == EINTR { continue }
                return .ready  // let libpq find and report the socket error
            }
            if ready == 0 { continue }
            if fds[1].revents != 0 {
                drainWakePipe()
                return .woken
            }
            return .ready
        }
    }

    /// Whether `close()` or a cancellation of `operation` asks the current call to stop.
    private func interruption(_ operation: UInt64?) -> PumpOutcome? {
        state.withLock { state in
            if state.closed { return .closedByCaller }
            if let operation, state.cancelled.contains(operation) { return .cancelled }
            return nil
        }
    }

    /// The one place the `PGconn*` and `PGcancel*` are freed.
    /// Frees the connection. `abortive` when a query's fate is unknown (it timed out, the
    /// connection broke): the socket is reset instead of closed, so whatever the kernel still
    /// holds to send (the query, perhaps) is dropped rather than delivered once a cut link
    /// heals — a call that timed out must not take effect later.
    private func releaseHandle(abortive: Bool = false) {
        state.withLock { $0.closed = true }
        if let cancel = cancelHandle {
            PQfreeCancel(cancel)
            cancelHandle = nil
        }
        if let conn = handle {
            if abortive { resetOnClose(PQsocket(conn)) }
            PQfinish(conn)
            handle = nil
        }
    }

    // MARK: Helpers

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWriter, &byte, 1)
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeReader, &buffer, buffer.count) > 0 {}
    }

    private func error(_ code: PostgresError.Code, _ message: String) -> PostgresError {
        PostgresError(code: code, message: message, endpoint: endpoint)
    }
}

/// Statements sent from inside `PostgresConnection.blocking`, on the connection's queue.
public struct BlockingSession {
    fileprivate let connection: PostgresConnection
    fileprivate let deadline: ContinuousClock.Instant
    fileprivate let timeout: Duration
    fileprivate let operation: UInt64

    /// One statement with `PQsendQueryParams`, like `PostgresConnection.query`.
    public func query(_ sql: String, _ parameters: [String?] = []) throws(PostgresError) -> PostgresResult {
        let results = try connection.execute(
            .extended(sql, parameters), deadline: deadline, timeout: timeout, operation: operation
        ).get()
        return results.last ?? PostgresResult(columns: [], rows: [], commandTag: "", affectedRows: nil)
    }
}

private func closeDescriptor(_ fd: Int32) {
    _ = close(fd)
}

private func milliseconds(_ duration: Duration) -> String {
    let (seconds, attoseconds) = duration.components
    return "\(seconds * 1000 + attoseconds / 1_000_000_000_000_000) ms"
}

/// NUL-terminated array of C strings (`nil` entries stay NULL), valid during `body`.
private func withCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } } + [nil]
    defer { for copy in copies { free(copy) } }
    let pointers = copies.map { $0.map { UnsafePointer($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Makes `close(fd)` send a reset and drop unsent data (SO_LINGER with a zero timeout).
func resetOnClose(_ fd: Int32) {
    guard fd >= 0 else { return }
    var linger = linger(l_onoff: 1, l_linger: 0)
    _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
}
