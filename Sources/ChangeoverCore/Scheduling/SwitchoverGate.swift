import Foundation

/// Decides, at a given instant, whether a caught-up changeover may start its switchover: the
/// fit rule of `WindowSchedule` (the opening must have the estimate plus the margin left) and
/// the deadline that overrides windows. Pure: the instant is passed in.
public struct SwitchoverGate: Sendable, Equatable {
    public var schedule: WindowSchedule
    /// The switchover's estimated length.
    public var needed: Duration
    public var margin: Duration
    /// If no fitting window starts by then, the switchover is forced at this instant.
    public var deadline: Date?

    public init(schedule: WindowSchedule, needed: Duration, margin: Duration, deadline: Date? = nil) {
        self.schedule = schedule
        self.needed = needed
        self.margin = margin
        self.deadline = deadline
    }

    public enum Decision: Sendable, Equatable {
        /// Switch now: `opening` is open and has room.
        case open(WindowOpening)
        /// Switch now although no window fits: the deadline has come. The reason is for the audit log.
        case forced(reason: String)
        /// Not yet. `opening` is the window that will fit (nil: none before the deadline, which
        /// is `until`); `skipped` are the openings before it that are too short or too far gone.
        case wait(until: Date, opening: WindowOpening?, skipped: [WindowOpening])
        /// No window within a year fits and there is no deadline.
        case never(reason: String)
    }

    /// The most skipped openings reported.
    static let skippedLimit = 3

    public func decide(at now: Date) -> Decision {
        let fitting = schedule.nextFitting(after: now, needed: needed, margin: margin, notAfter: deadline)
        if let fitting, fitting.start <= now { return .open(fitting) }
        let horizon = fitting?.start ?? deadline ?? .distantFuture
        let skipped = Array(schedule.openings(after: now, count: Self.skippedLimit).filter { $0.start < horizon })
        if let deadline, now >= deadline {
            // Windows of the past week that were too short for the switchover.
            let need = (needed + margin).seconds
            let short = schedule.openings(after: now.addingTimeInterval(-7 * 86_400), count: 8)
                .filter { $0.start < now && $0.end.timeIntervalSince($0.start) < need }
            let why =
                short.isEmpty
                ? "no maintenance window with room for the switchover opened before it"
                : "the windows before it were too short for the switchover (\(ScheduleText.duration(needed)) + \(ScheduleText.duration(margin)) margin)"
            return .forced(reason: "the deadline \(ScheduleText.iso(deadline)) has come and \(why)")
        }
        if let fitting { return .wait(until: fitting.start, opening: fitting, skipped: skipped) }
        if let deadline { return .wait(until: deadline, opening: nil, skipped: skipped) }
        guard !schedule.windows.isEmpty || !skipped.isEmpty else {
            return .never(
                reason:
                    "the database has no maintenance windows: give it windows, schedule with a deadline, or switch with --now"
            )
        }
        return .never(
            reason:
                "no maintenance window within a year has room for the switchover (\(ScheduleText.duration(needed)) + \(ScheduleText.duration(margin)) margin)"
        )
    }

    /// What the decision means for someone watching, with times in `zone` (the database's
    /// windows' zone): "the window Sun 22:00 Europe/Berlin opens in 3 h 12 min (20:00Z)".
    public func describe(_ decision: Decision, at now: Date, zone: TimeZone) -> String {
        switch decision {
        case .open(let opening):
            return
                "the window is open until \(ScheduleText.local(opening.end, zone)) (\(ScheduleText.duration(since: now, until: opening.end)) left)"
        case .forced(let reason):
            return "forced: \(reason)"
        case .wait(let until, let opening, let skipped):
            var text: String
            if let opening {
                text =
                    "the window \(ScheduleText.local(opening.start, zone)) opens in \(ScheduleText.duration(since: now, until: until)) (\(ScheduleText.iso(opening.start)))"
            } else {
                text =
                    "the deadline \(ScheduleText.iso(until)) in \(ScheduleText.duration(since: now, until: until)): no window with room opens before it, the switchover will be forced then"
            }
            if !skipped.isEmpty {
                text +=
                    "; " + skipped.map { skippedText($0, now: now, zone: zone) }.joined(separator: "; ")
                    + (opening != nil ? ": moved to the next window that fits" : "")
            }
            return text
        case .never(let reason):
            return reason
        }
    }

    /// Why `opening` is skipped: "the window Mon 10:00:08 UTC (…) lasts 3 s, too short for the switchover (5 s + 2 s margin)".
    public func skippedText(_ opening: WindowOpening, now: Date, zone: TimeZone) -> String {
        let left =
            opening.contains(now) ? opening.end.timeIntervalSince(now) : opening.end.timeIntervalSince(opening.start)
        let what =
            opening.contains(now)
            ? "the window open now has \(ScheduleText.duration(seconds: left)) left"
            : "the window \(ScheduleText.local(opening.start, zone)) (\(ScheduleText.iso(opening.start))) lasts \(ScheduleText.duration(seconds: left))"
        return
            "\(what), too short for the switchover (\(ScheduleText.duration(needed)) + \(ScheduleText.duration(margin)) margin)"
    }
}

/// When a scheduled changeover's follower should be provisioned: `lead` before the window its
/// switchover targets, or now when the window is open or the deadline forces it.
public struct StartPlan: Sendable, Equatable {
    public var decision: SwitchoverGate.Decision
    public var lead: SwitchoverEstimate.Lead
    public var estimate: SwitchoverEstimate.Estimate
    /// When provisioning starts; nil when no window will ever fit.
    public var startAt: Date?

    public init(gate: SwitchoverGate, estimate: SwitchoverEstimate.Estimate, lead: SwitchoverEstimate.Lead, now: Date) {
        decision = gate.decide(at: now)
        self.lead = lead
        self.estimate = estimate
        switch decision {
        case .open, .forced: startAt = now
        case .wait(let until, _, _): startAt = until.addingTimeInterval(-lead.duration.seconds)
        case .never: startAt = nil
        }
    }

    public func isDue(at now: Date) -> Bool { startAt.map { $0 <= now } ?? false }

    /// "provisioning starts in 2 h 40 min (…), 25 min before the window …" for status.
    public func describe(gate: SwitchoverGate, at now: Date, zone: TimeZone) -> String {
        let target = gate.describe(decision, at: now, zone: zone)
        guard let startAt else { return "never: \(target)" }
        if startAt <= now {
            return "provisioning is due now (lead \(ScheduleText.duration(lead.duration)): \(lead.basis)); \(target)"
        }
        return
            "provisioning starts in \(ScheduleText.duration(since: now, until: startAt)) (\(ScheduleText.iso(startAt)), lead "
            + "\(ScheduleText.duration(lead.duration)): \(lead.basis)); \(target)"
    }
}
