import Foundation

/// One concrete stretch of time in which a switchover may run: `start ..< end`.
public struct WindowOpening: Sendable, Hashable, Codable, CustomStringConvertible {
    public let start: Date
    public let end: Date

    public init(start: Date, end: Date) {
        self.start = start
        self.end = end
    }

    public var duration: Duration {
        let seconds = end.timeIntervalSince(start)
        let whole = seconds.rounded(.down)
        return .seconds(Int64(whole)) + .nanoseconds(Int64(((seconds - whole) * 1e9).rounded()))
    }

    /// Half-open: the opening contains its start but not its end.
    public func contains(_ date: Date) -> Bool { start <= date && date < end }

    /// ISO 8601 UTC, e.g. `2026-03-29T01:00:00Z ..< 2026-03-29T05:00:00Z (4h)`.
    public var description: String {
        let style = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!)
        return "\(start.formatted(style)) ..< \(end.formatted(style)) "
            + "(\(WindowDurationText.format(duration)))"
    }
}
