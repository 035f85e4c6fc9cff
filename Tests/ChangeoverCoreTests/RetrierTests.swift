import Foundation
import PostgresClient
import RedisClient
import Synchronization
import Testing

@testable import ChangeoverCore

/// Retries: only transient failures are tried again, with doubling delays, each reported, and
/// the final error says how many tries failed over how long.
@Suite struct RetrierTests {
    @Test func delaysDoubleUpToTheCap() {
        let policy = RetryPolicy(attempts: 10, firstDelay: .milliseconds(100), maxDelay: .milliseconds(1000))
        #expect(
            (1...6).map { policy.delay(after: $0) }
                == [
                    .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1000),
                    .milliseconds(1000),
                ])
    }

    @Test func transientFailuresAreTriedAgainAndReported() async throws {
        let notes = Mutex<[RetryNote]>([])
        let retrier = Retrier { note in notes.withLock { $0.append(note) } }
        var calls = 0
        let value = try await retrier.run(
            "read the lag", policy: RetryPolicy(attempts: 5, firstDelay: .milliseconds(1), maxDelay: .milliseconds(4))
        ) {
            calls += 1
            if calls < 3 { throw PostgresError(code: .timeout, message: "no answer", endpoint: "10.0.0.2:5432") }
            return 42
        }
        #expect(value == 42 && calls == 3)
        let seen = notes.withLock { $0 }
        #expect(seen.map(\.attempt) == [1, 2])
        #expect(seen.map(\.delayMilliseconds) == [1, 2])
        #expect(seen.first?.description.hasPrefix("read the lag: try 1 of 5 failed (timed out") == true, "\(seen)")
        #expect(retrier.takeCount() == 2)
        #expect(retrier.takeCount() == 0)
    }

    @Test func answersAreNotRetried() async throws {
        let retrier = Retrier()
        var calls = 0
        await #expect(throws: PostgresError.self) {
            try await retrier.run("create the slot") {
                calls += 1
                throw PostgresError(code: .queryFailed, message: "permission denied", sqlState: "42501")
            }
        }
        #expect(calls == 1)
        var redisCalls = 0
        await #expect(throws: RedisError.self) {
            try await retrier.run("pause") {
                redisCalls += 1
                throw RedisError(code: .serverError, message: "NOPERM", endpoint: nil)
            }
        }
        #expect(redisCalls == 1)
        #expect(
            Retrier.isTransient(PostgresError(code: .queryFailed, message: "terminating connection", sqlState: "57P01"))
        )
        #expect(Retrier.isTransient(RedisError(code: .connectionClosed, message: "gone", endpoint: nil)))
        #expect(!Retrier.isTransient(PostgresError(code: .authenticationFailed, message: "password")))
        #expect(Retrier.isTransient(RouterError(description: "haproxy's runtime API: no reply", transient: true)))
        #expect(!Retrier.isTransient(RouterError(description: "pgbouncer refused PAUSE orders")))
    }

    @Test func exhaustedTriesNameTheCallAndTheLastError() async throws {
        let retrier = Retrier()
        var calls = 0
        do {
            _ = try await retrier.run(
                "drop the slot",
                policy: RetryPolicy(attempts: 3, firstDelay: .milliseconds(1), maxDelay: .milliseconds(1))
            ) {
                calls += 1
                throw PostgresError(code: .connectionFailed, message: "no route to host", endpoint: "10.0.0.2:5432")
            }
            Issue.record("expected a failure")
        } catch let error as RetriesExhausted {
            #expect(calls == 3 && error.tries == 3)
            #expect(error.description.hasPrefix("drop the slot failed 3 times over "), "\(error)")
            #expect(error.description.contains("no route to host"))
        }
    }

    @Test func aDeadlineStopsTheTries() async throws {
        let retrier = Retrier()
        var calls = 0
        let deadline = ContinuousClock.now + .milliseconds(150)
        await #expect(throws: RetriesExhausted.self) {
            try await retrier.run("poll", policy: .untilDeadline, until: deadline) {
                calls += 1
                throw RedisError(code: .timeout, message: "slow", endpoint: nil)
            }
        }
        #expect(calls == 2, "100 ms after the first try, the next delay (200 ms) would pass the deadline")
    }
}
