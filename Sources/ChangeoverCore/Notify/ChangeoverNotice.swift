import Foundation

/// The JSON object a notification carries (docs/notifications.md). Times are ISO 8601: in UTC,
/// and for the window also in the database's zone. Nothing in it is secret: addresses are host
/// and port, failures are masked like config errors.
public struct ChangeoverNotice: Sendable, Codable, Equatable {
    /// The payload's format; fields may be added without changing it.
    public var version = 1
    public var event: NotifyEvent
    /// When the notice was made.
    public var at: String
    /// One line for people: what happened or is about to.
    public var summary: String
    public var changeover: String
    public var database: String
    public var engine: String
    public var fromImage: String
    public var toImage: String
    /// The window the switchover is planned for (scheduled, reminder) or happened in (completed…).
    public var window: Window?
    /// The changeover's deadline, if it has one.
    public var deadline: String?
    /// scheduled, reminder: when the switchover is expected to start (the window's opening or the deadline).
    public var switchoverAt: String?
    /// scheduled, reminder: the switchover is to be forced at the deadline (no window with room before it).
    public var forcedByDeadline: Bool?
    /// reminder: which of `notify.before` this is ("1 h").
    public var reminder: String?
    /// forced: why the deadline forced the switchover.
    public var reason: String?
    /// completed, failed, aborted: the machine's outcome.
    public var outcome: String?
    /// failed, aborted: the step that failed and why (one line, no secret).
    public var failedStep: String?
    public var failure: String?
    /// completed: from the fence to clients resuming on the new primary.
    public var writePauseMs: Double?
    /// completed: the new primary (host and port only).
    public var newPrimary: Address?
    /// The old primary (host and port only).
    public var oldPrimary: Address?

    public struct Window: Sendable, Codable, Equatable {
        public var start: String
        public var end: String
        /// The database's zone (its first window's), and the window's times in it.
        public var zone: String
        public var startLocal: String
        public var endLocal: String

        public init(_ opening: WindowOpening, zone: TimeZone) {
            start = ScheduleText.iso(opening.start)
            end = ScheduleText.iso(opening.end)
            self.zone = zone.identifier == "GMT" ? "UTC" : zone.identifier
            startLocal = ChangeoverNotice.localISO(opening.start, zone)
            endLocal = ChangeoverNotice.localISO(opening.end, zone)
        }
    }

    public struct Address: Sendable, Codable, Equatable {
        public var host: String
        public var port: Int
    }

    public init(
        event: NotifyEvent, at: Date, summary: String, changeover: String, database: String, engine: String,
        fromImage: String, toImage: String
    ) {
        self.event = event
        self.at = ScheduleText.iso(at)
        self.summary = summary
        self.changeover = changeover
        self.database = database
        self.engine = engine
        self.fromImage = fromImage
        self.toImage = toImage
    }

    /// ISO 8601 with the zone's offset at that instant: `2026-05-03T22:00:00+02:00`.
    static func localISO(_ date: Date, _ zone: TimeZone) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        formatter.timeZone = zone
        return formatter.string(from: date)
    }

    /// The payload's bytes: one line of JSON, keys sorted.
    public func json() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(self)) ?? Data("{}".utf8))
    }
}
