/// Who hears about a database's changeovers (`notify:`, fleet-wide, each key overridable in a
/// database's own `notify:`): a command that reads the JSON notice on stdin, a webhook that
/// receives it as a POST, or both. Delivery never changes a changeover's outcome.
public struct NotifyConfig: Sendable, Equatable {
    /// Run with `/bin/sh -c`, the notice on stdin.
    public var command: String?
    /// POSTed the notice as `application/json` (plain http).
    public var webhook: Webhook?
    /// Reminders this long before the window a scheduled switchover is planned for opens (or
    /// its deadline), largest first.
    public var before: [Duration] = []
    /// The events sent.
    public var events: Set<NotifyEvent> = Set(NotifyEvent.allCases)
    /// The deadline of one delivery (the command's run, the webhook's exchange).
    public var timeout: Duration = .seconds(10)

    public init() {}

    /// Whether anything is to be told at all.
    public var hasTarget: Bool { command != nil || webhook != nil }

    /// Whether `event` is to be sent.
    public func sends(_ event: NotifyEvent) -> Bool { hasTarget && events.contains(event) }

    /// A webhook's address. Shown as `host:port` only: its path may hold a token.
    public struct Webhook: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// The path and query, as written ("/" when none).
        public var path: String

        public var name: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    }
}

/// What a notice is about.
public enum NotifyEvent: String, Sendable, Codable, CaseIterable, Comparable {
    /// A changeover was recorded to switch in a maintenance window (`schedule`, `run
    /// --in-window`, the daemon's `schedule:`).
    case scheduled
    /// The window a scheduled switchover is planned for opens (or its deadline comes) in one of
    /// the `before` durations.
    case reminder
    /// No window with room opened before the deadline: the switchover starts now, outside windows.
    case forced
    /// The changeover ended: the follower on the new image is the primary.
    case completed
    /// The changeover ended past the point of no return without finishing, or its rollback did not finish.
    case failed
    /// The changeover ended rolled back (a failure before the promotion, or `abort`): the old primary serves.
    case aborted

    public static func < (a: NotifyEvent, b: NotifyEvent) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}
