/// Waits for an observed condition: calls `condition` at once and then every `interval`
/// until it returns a value, and returns that value; returns nil once a call that found
/// nothing ends at or after `deadline`. The condition is always asked at least once, and once
/// more after the deadline when a starved task wakes up late, so a slow wake-up is not a
/// timeout. What the condition throws ends the wait with that error; so does cancellation of
/// the waiting task (`CancellationError`, from the sleep between calls).
///
/// The caller says what a timeout means: it throws its own error, in its own words, when the
/// result is nil. `condition` runs in the caller's isolation, so an actor's loop may read and
/// write its state and the caller's `inout` parameters.
public func poll<T>(
    every interval: Duration,
    until condition: () async throws -> T?,
    deadline: ContinuousClock.Instant,
    isolation: isolated (any Actor)? = #isolation
) async throws -> T? {
    while true {
        if let value = try await condition() { return value }
        guard ContinuousClock.now < deadline else { return nil }
        try await Task.sleep(for: interval)
    }
}

/// `poll` for a condition that is true or false: whether it became true before the deadline.
public func poll(
    every interval: Duration,
    until condition: () async throws -> Bool,
    deadline: ContinuousClock.Instant,
    isolation: isolated (any Actor)? = #isolation
) async throws -> Bool {
    try await poll(every: interval, until: { try await condition() ? true : nil }, deadline: deadline) != nil
}
