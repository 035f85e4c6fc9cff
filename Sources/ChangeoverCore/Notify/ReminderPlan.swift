import Foundation

/// Which reminder of a scheduled switchover is due. Pure: the instant is passed in.
///
/// A reminder is due `before` ahead of its target (the opening of the window the switchover is
/// planned for, or the deadline) until the target comes: one due when scheduling starts is sent
/// at once, one whose target has come is never sent. Each is sent once per target; when several
/// are due at once (scheduled 30 min ahead with `before: [24h, 1h]`) only the nearest to the
/// target is sent and the others count as sent. Sent reminders are kept as `key`s in the
/// changeover's facts (`notify.reminders`), so a resumed changeover does not send them again,
/// and a switchover moved to another window is reminded of afresh.
public struct ReminderPlan: Sendable, Equatable {
    public var before: [Duration]
    public var target: Date

    public init(before: [Duration], target: Date) {
        self.before = before
        self.target = target
    }

    /// The fact that lists the reminders sent.
    public static let fact = "notify.reminders"

    /// What is due at `now` given the keys already sent: the reminder to send and every key it
    /// settles; nil when nothing is.
    public func due(at now: Date, sent: Set<String>) -> (reminder: Duration, keys: [String])? {
        guard now < target else { return nil }
        let due = before.filter { target.addingTimeInterval(-$0.seconds) <= now && !sent.contains(key($0)) }
        guard let nearest = due.min() else { return nil }
        return (nearest, due.map(key))
    }

    /// When the next reminder is due after `now` (for a waiter's sleep); nil when none is left.
    public func nextDue(after now: Date, sent: Set<String>) -> Date? {
        before.filter { !sent.contains(key($0)) }.map { target.addingTimeInterval(-$0.seconds) }
            .filter { $0 > now && $0 < target }.min()
    }

    /// `1h@2026-05-03T20:00:00Z`: this reminder of this target.
    public func key(_ reminder: Duration) -> String {
        "\(Self.text(reminder))@\(ScheduleText.iso(target))"
    }

    /// The keys in a changeover's facts.
    public static func sent(in facts: Facts) -> Set<String> {
        Set((facts[fact] ?? "").split(separator: ",").map(String.init))
    }

    /// `facts` with `keys` added to the sent list.
    public static func record(_ keys: [String], in facts: inout Facts) {
        let all = sent(in: facts).union(keys)
        facts[fact] = all.sorted().joined(separator: ",")
    }

    /// A duration as the config writes it, exactly: "24h", "90m", "30s", "1500ms".
    static func text(_ duration: Duration) -> String {
        let ms = Int64((duration.seconds * 1000).rounded())
        if ms % 3_600_000 == 0 { return "\(ms / 3_600_000)h" }
        if ms % 60_000 == 0 { return "\(ms / 60_000)m" }
        if ms % 1000 == 0 { return "\(ms / 1000)s" }
        return "\(ms)ms"
    }
}
