import Foundation
import PostgresClient
import RedisClient
import Synchronization

/// How patiently a remote call is tried again after a transient failure: exponential backoff
/// from `firstDelay`, doubling up to `maxDelay`, at most `attempts` tries in all, and never past
/// the caller's deadline.
public struct RetryPolicy: Sendable, Equatable {
    public var attempts: Int
    public var firstDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int, firstDelay: Duration, maxDelay: Duration) {
        self.attempts = attempts
        self.firstDelay = firstDelay
        self.maxDelay = maxDelay
    }

    /// Outside the write pause: 6 tries over about 3 s of waiting.
    public static let standard = RetryPolicy(attempts: 6, firstDelay: .milliseconds(100), maxDelay: .seconds(2))
    /// Inside the write pause, where every millisecond is a client's: a few quick tries.
    public static let inPause = RetryPolicy(attempts: 3, firstDelay: .milliseconds(5), maxDelay: .milliseconds(50))
    /// Until a deadline (catch-up polls): as many tries as fit, never more than 2 s apart.
    public static let untilDeadline = RetryPolicy(attempts: .max, firstDelay: .milliseconds(100), maxDelay: .seconds(2))

    /// The wait before try `attempt + 1`, after try `attempt` (1-based) failed.
    public func delay(after attempt: Int) -> Duration {
        var delay = firstDelay
        for _ in 1..<max(attempt, 1) where delay < maxDelay { delay *= 2 }
        return min(delay, maxDelay)
    }
}

/// One retry, as `status` shows it while the changeover waits.
public struct RetryNote: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The call, in words: "read the follower's lag on the primary".
    public var call: String
    /// The try that failed (1-based).
    public var attempt: Int
    /// Tries allowed, nil when only a deadline limits them.
    public var attempts: Int?
    public var error: String
    public var delayMilliseconds: Int
    public var at: Date

    public var description: String {
        "\(call): try \(attempt)\(attempts.map { " of \($0)" } ?? "") failed (\(error)); next in \(delayMilliseconds) ms"
    }
}

/// Every try of a call failed.
public struct RetriesExhausted: Error, CustomStringConvertible, Sendable {
    public var call: String
    public var tries: Int
    public var seconds: Double
    public var last: String
    public var description: String {
        "\(call) failed \(tries) time\(tries == 1 ? "" : "s") over \(String(format: "%.1f", seconds)) s: \(last)"
    }
}

/// Runs the remote calls of one changeover, trying a call again after a transient failure (the
/// server unreachable, a timeout, a lost connection) and never after an answer (an SQL error,
/// a refused login). Each retry is reported as it happens, for `status`, and counted for the
/// step's audit record.
public final class Retrier: Sendable {
    private let count = Mutex(0)
    private let report: @Sendable (RetryNote) -> Void

    public init(report: @escaping @Sendable (RetryNote) -> Void = { _ in }) {
        self.report = report
    }

    /// Retries since the last call, and starts counting again (the runner calls it per step).
    public func takeCount() -> Int {
        count.withLock { value in
            defer { value = 0 }
            return value
        }
    }

    /// Calls `body` until it succeeds, fails with an error that is not transient, runs out of
    /// tries, or the next try would start after `deadline`. `body` runs in the caller's isolation.
    /// `body` on a connection kept between calls: after a transient failure `drop` throws the
    /// connection away, so that the next try (as `policy` allows) opens a new one.
    public func run<Connection, T>(
        _ call: String, policy: RetryPolicy = .standard, until deadline: ContinuousClock.Instant? = nil,
        isolation: isolated (any Actor)? = #isolation,
        on connection: () async throws -> Connection, drop: () -> Void,
        _ body: (Connection) async throws -> T
    ) async throws -> T {
        try await run(call, policy: policy, until: deadline) {
            do {
                return try await body(try await connection())
            } catch {
                if Self.isTransient(error) { drop() }
                throw error
            }
        }
    }

    public func run<T>(
        _ call: String, policy: RetryPolicy = .standard, until deadline: ContinuousClock.Instant? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        let clock = ContinuousClock()
        let started = clock.now
        var attempt = 0
        while true {
            attempt += 1
            let failure: any Error
            do {
                return try await body()
            } catch {
                failure = error
            }
            let delay = policy.delay(after: attempt)
            guard Self.isTransient(failure), attempt < policy.attempts,
                deadline.map({ clock.now + delay < $0 }) ?? true, !Task.isCancelled
            else {
                guard attempt > 1 else { throw failure }
                throw RetriesExhausted(
                    call: call, tries: attempt, seconds: (clock.now - started).seconds,
                    last: String(describing: failure))
            }
            count.withLock { $0 += 1 }
            report(
                RetryNote(
                    call: call, attempt: attempt, attempts: policy.attempts == .max ? nil : policy.attempts,
                    error: String(describing: failure), delayMilliseconds: Int(delay.milliseconds), at: Date()))
            try await Task.sleep(for: delay)
        }
    }

    /// Whether trying again may help: the server could not be reached or did not answer in time,
    /// or the connection was lost. An answer (an SQL error, a refused password) is final.
    public static func isTransient(_ error: any Error) -> Bool {
        switch error {
        case let error as PostgresError:
            if [.connectionFailed, .timeout, .connectionClosed].contains(error.code) { return true }
            // 08: connection exception; 57P01-57P03: shutting down, crash shutdown, cannot connect now.
            guard let state = error.sqlState else { return false }
            return state.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(state)
        case let error as RedisError:
            return [.connectionFailed, .timeout, .connectionClosed].contains(error.code)
        case let error as RouterError:
            return error.transient
        case let error as SSHError:
            return error.transient
        default:
            return false
        }
    }
}
