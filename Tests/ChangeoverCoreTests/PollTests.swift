import Testing

@testable import ChangeoverCore

/// `poll`: the one wait for an observed condition with a deadline, used by both engines. The
/// deadlines that must not pass are an hour away: the unit tests share a starved 2-thread pool,
/// where a sleep of milliseconds can last a minute.
@Suite struct PollTests {
    struct Refused: Error {}

    @Test func returnsTheFirstValueTheConditionFinds() async throws {
        var calls = 0
        let found = try await poll(
            every: .milliseconds(1),
            until: { () -> String? in
                calls += 1
                return calls == 3 ? "caught up" : nil
            }, deadline: .now + .seconds(3600))
        #expect(found == "caught up")
        #expect(calls == 3)
    }

    @Test func givesUpOnceTheDeadlinePasses() async throws {
        var calls = 0
        let started = ContinuousClock.now
        // True only on the thousandth call, ten seconds or more after the deadline.
        let found = try await poll(
            every: .milliseconds(10),
            until: { () -> Bool in
                calls += 1
                return calls >= 1000
            }, deadline: started + .milliseconds(100))
        #expect(!found)
        #expect(calls < 1000)
        #expect(ContinuousClock.now - started >= .milliseconds(100))
    }

    @Test func asksOnceEvenWhenTheDeadlineHasPassed() async throws {
        var calls = 0
        let found = try await poll(
            every: .seconds(10),
            until: { () -> Bool in
                calls += 1
                return true
            }, deadline: .now - .seconds(1))
        #expect(found)
        #expect(calls == 1)
    }

    @Test func waitsTheIntervalBetweenCalls() async throws {
        var times: [ContinuousClock.Instant] = []
        _ = try await poll(
            every: .milliseconds(50),
            until: { () -> Bool in
                times.append(.now)
                return times.count == 4
            }, deadline: .now + .seconds(3600))
        #expect(times.count == 4)
        for (earlier, later) in zip(times, times.dropFirst()) {
            #expect(later - earlier >= .milliseconds(50))
        }
    }

    @Test func anErrorOfTheConditionEndsTheWait() async throws {
        var calls = 0
        await #expect(throws: Refused.self) {
            _ = try await poll(
                every: .milliseconds(1),
                until: { () throws -> Bool in
                    calls += 1
                    if calls == 2 { throw Refused() }
                    return false
                }, deadline: .now + .seconds(3600))
        }
        #expect(calls == 2)
    }

    @Test func cancellationEndsTheWait() async throws {
        let waiting = Task {
            var calls = 0
            _ = try await poll(
                every: .milliseconds(1),
                until: { () -> Bool in
                    calls += 1
                    // The waiting task is cancelled while it waits for its third look; a wait
                    // that went on regardless would end on the fiftieth, without an error.
                    if calls == 2 { withUnsafeCurrentTask { $0?.cancel() } }
                    return calls >= 50
                }, deadline: .now + .seconds(3600))
            return calls
        }
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
    }
}
