import ChangeoverCore

/// A writer that records every write the server acknowledged, and when: the probe of the
/// zero-loss contract and of the write pause.
public protocol WriteProbe: Actor {
    func start()
    func stop() async -> WriteProbeReport
    /// Waits until at least `count` more writes were acknowledged.
    func waitForAcknowledgements(_ count: Int, timeout: Duration) async throws
    /// The writes acknowledged until now; the writer keeps going.
    func acknowledgedSoFar() -> [Int64]
    /// The longest time between two consecutive acknowledgements after `instant`, in milliseconds.
    func longestGap(since instant: ContinuousClock.Instant) -> Double
}

extension WriteProbe {
    public func waitForAcknowledgements(_ count: Int) async throws {
        try await waitForAcknowledgements(count, timeout: .seconds(120))
    }
}

public struct WriteProbeReport: Sendable {
    /// Sequence numbers whose write was acknowledged.
    public var acknowledged: [Int64]
    /// Failed attempts (connection refused or lost, read-only server…).
    public var errors: Int
    public var reconnects: Int
    /// The longest time between two consecutive acknowledgements, in milliseconds.
    public var longestGapMilliseconds: Double
}

enum WriteProbeMath {
    /// The longest gap between consecutive times, counting from the last one before `instant`.
    static func longestGap(_ times: [ContinuousClock.Instant], since instant: ContinuousClock.Instant?) -> Double {
        var window = times[...]
        if let instant {
            let first = times.lastIndex { $0 < instant } ?? times.startIndex
            window = times[first...]
        }
        return zip(window, window.dropFirst()).map { ($1 - $0).milliseconds }.max() ?? 0
    }
}
