import Foundation
import Logging

/// Notifications on top of the executor: who is told what, and the audit record of each
/// delivery (step `notify`, outcome `sent` or `failed`). A delivery that fails is a warning
/// for the watcher (`ChangeoverEvent.notified`); it never changes a changeover's outcome, and none happens
/// inside the write pause (they are sent before the fence or after the changeover ended).
extension ChangeoverRunner {
    /// The database's notifier, with the secrets it must keep out of notices and commands.
    func notifier(for database: DatabaseConfig) -> Notifier {
        let values = [database.password, database.replicationPassword, database.router.password].compactMap { secret in
            secret.flatMap { try? $0.value(environment: environment) }
        }
        return Notifier(config: database.notify, secretVariables: secretVariables, secretValues: values)
    }

    /// The environment variables the config takes passwords from: unset for the commands it
    /// runs for others (notify commands, campaign gates).
    var secretVariables: Set<String> {
        var variables: Set<String> = []
        for db in config.databases.values {
            for secret in [db.password, db.replicationPassword, db.router.password].compactMap({ $0 }) {
                if case .environment(let name) = secret { variables.insert(name) }
            }
        }
        return variables
    }

    /// A notice about `record` with what every event carries.
    func notice(_ event: NotifyEvent, _ record: ChangeoverRecord, database: DatabaseConfig, summary: String)
        -> ChangeoverNotice
    {
        var notice = ChangeoverNotice(
            event: event, at: Date(), summary: summary, changeover: record.id, database: record.database,
            engine: database.engine.rawValue, fromImage: record.fromImage, toImage: record.toImage)
        notice.deadline = record.policy?.deadline.map(ScheduleText.iso)
        if let old = record.facts.oldAddress.flatMap({ try? DatabasePrimary.parse($0, engine: database.engine) }) {
            notice.oldPrimary = .init(host: old.host, port: old.port)
        }
        return notice
    }

    /// Delivers `notice` if the database's config asks for its event, writes the audit record,
    /// tells the watcher and the log. Never throws.
    func send(_ notice: ChangeoverNotice, database: DatabaseConfig, facts: [String: String] = [:]) async {
        guard database.notify.sends(notice.event) else { return }
        let deliveries = await notifier(for: database).deliver(notice)
        let failures = deliveries.compactMap(\.failure)
        let failure = failures.isEmpty ? nil : failures.joined(separator: "; ")
        var auditFacts = facts
        auditFacts["event"] = notice.event.rawValue
        auditFacts["targets"] = deliveries.map(\.target).joined(separator: ", ")
        let message =
            failure ?? "\(notice.event.rawValue) sent to \(deliveries.map(\.target).joined(separator: " and "))"
        do {
            // After the delivery it reports: a notice changes no state that a record must authorise.
            try journal.record([
                AuditEntry(
                    changeover: notice.changeover, database: notice.database, step: "notify",
                    outcome: failure == nil ? "sent" : "failed", message: message, facts: auditFacts)
            ])
        } catch {
            logger.error("cannot write the audit log", metadata: ["error": "\(Self.describe(error))"])
        }
        events(.notified(notice.event, failure: failure))
    }

    /// Where a decision points: when the switchover is expected, in which window, whether the deadline forces it.
    static func target(of decision: SwitchoverGate.Decision, at now: Date) -> (
        at: Date, window: WindowOpening?, forced: Bool
    )? {
        switch decision {
        case .open(let opening): (now, opening, false)
        case .forced: (now, nil, true)
        case .wait(let until, let opening, _): (opening?.start ?? until, opening, opening == nil)
        case .never: nil
        }
    }

    /// "the window Sun 22:00 Europe/Berlin (2026-05-03T20:00:00Z)" or "the deadline 2026-…Z".
    static func targetText(_ target: (at: Date, window: WindowOpening?, forced: Bool), zone: TimeZone) -> String {
        if let window = target.window {
            return "the window \(ScheduleText.local(window.start, zone)) (\(ScheduleText.iso(window.start)))"
        }
        return "the deadline \(ScheduleText.iso(target.at)) (no window with room opens before it: forced)"
    }

    // MARK: events

    /// Tells that `record` was recorded to switch in a window (`scheduled`).
    public func notifyScheduled(_ record: ChangeoverRecord) async {
        guard let database = try? config.database(record.database), database.notify.sends(.scheduled) else { return }
        let now = self.now()
        let zone = Self.zone(of: database)
        let plan = startPlan(for: record, dataBytes: nil)
        guard let target = Self.target(of: plan.decision, at: now) else { return }
        var notice = notice(
            .scheduled, record, database: database,
            summary:
                "\(record.database): changeover \(record.fromImage) → \(record.toImage) scheduled for \(Self.targetText(target, zone: zone))"
        )
        notice.window = target.window.map { .init($0, zone: zone) }
        notice.switchoverAt = ScheduleText.iso(target.at)
        notice.forcedByDeadline = target.forced
        await send(notice, database: database)
    }

    /// Sends the reminder due at `now` for the switchover `decision` points to, if one is. The
    /// record's facts say it was sent, and are saved, before it is sent: a controller killed
    /// meanwhile does not send it again.
    func remind(
        _ record: inout ChangeoverRecord, database: DatabaseConfig, decision: SwitchoverGate.Decision, now: Date
    ) async {
        guard database.notify.sends(.reminder), case .wait = decision, let target = Self.target(of: decision, at: now)
        else { return }
        let plan = ReminderPlan(before: database.notify.before, target: target.at)
        guard let due = plan.due(at: now, sent: ReminderPlan.sent(in: record.facts)) else { return }
        ReminderPlan.record(due.keys, in: &record.facts)
        record.updatedAt = Date()
        do {
            try store.save(record)
        } catch {
            logger.error(
                "cannot save the changeover; the reminder is not sent",
                metadata: ["changeover.id": "\(record.id)", "error": "\(Self.describe(error))"])
            return
        }
        let zone = Self.zone(of: database)
        let text = ReminderPlan.text(due.reminder)
        var notice = notice(
            .reminder, record, database: database,
            summary:
                "\(record.database): switchover to \(record.toImage) in \(ScheduleText.duration(since: now, until: target.at)), at \(Self.targetText(target, zone: zone))"
        )
        notice.window = target.window.map { .init($0, zone: zone) }
        notice.switchoverAt = ScheduleText.iso(target.at)
        notice.forcedByDeadline = target.forced
        notice.reminder = text
        await send(notice, database: database, facts: ["reminder": text, "switchoverAt": ScheduleText.iso(target.at)])
    }

    /// Starts sending the reminders that come due while a long step runs (a provision or
    /// catch-up can take hours, started its lead time before the window): a task that looks
    /// every second and saves each reminder in the stored record before sending it. Nil when the
    /// changeover is not scheduled or nobody is to be reminded. The caller cancels it once the
    /// step is over and takes the sent list it returns into its record (the stored record
    /// changes under it only here, while the step's own record is not saved).
    func startReminding(_ record: ChangeoverRecord, _ prepared: Prepared) -> Task<String?, Never>? {
        let database = prepared.database
        guard record.policy?.mode == .window, database.notify.sends(.reminder), !database.notify.before.isEmpty else {
            return nil
        }
        let gate = gate(for: record, database: database)
        let id = record.id
        return Task { [self] in
            var sent = record.facts[ReminderPlan.fact]
            while !Task.isCancelled {
                let now = self.now()
                let decision = gate.decide(at: now)
                if case .wait = decision, let target = Self.target(of: decision, at: now),
                    ReminderPlan(before: database.notify.before, target: target.at)
                        .due(at: now, sent: ReminderPlan.sent(in: [ReminderPlan.fact: sent ?? ""])) != nil,
                    var stored = try? store.changeover(id)
                {
                    stored.facts[ReminderPlan.fact] = sent
                    await remind(&stored, database: database, decision: decision, now: now)
                    sent = stored.facts[ReminderPlan.fact]
                }
                try? await Task.sleep(for: .seconds(1))
            }
            return sent
        }
    }

    /// Sends the due reminder of the scheduled (`pending`) changeover `id`, under the database's
    /// lock: for whoever waits for its provisioning (`run --in-window`, the daemon). Skipped
    /// while another controller holds the database (it sends them itself).
    public func sendDueReminder(id: String) async {
        func due(_ record: ChangeoverRecord, _ database: DatabaseConfig, at now: Date) -> SwitchoverGate.Decision? {
            guard record.machine.step == .pending else { return nil }
            let decision = gate(for: record, database: database).decide(at: now)
            guard case .wait = decision, let target = Self.target(of: decision, at: now),
                ReminderPlan(before: database.notify.before, target: target.at).due(
                    at: now, sent: ReminderPlan.sent(in: record.facts)) != nil
            else { return nil }
            return decision
        }
        // Looked at without the lock first: the lock is taken only when a reminder is due.
        guard let first = try? store.changeover(id), let database = try? config.database(first.database),
            database.notify.sends(.reminder), due(first, database, at: now()) != nil,
            let lock = try? store.lock(database: database.name, changeover: id, actor: actor)
        else { return }
        defer { withExtendedLifetime(lock) {} }
        let now = self.now()
        guard var record = try? store.changeover(id), let decision = due(record, database, at: now) else { return }
        await remind(&record, database: database, decision: decision, now: now)
    }

    /// Tells that the deadline forced the switchover (`forced`), before the fence.
    func notifyForced(_ record: ChangeoverRecord, database: DatabaseConfig, reason: String) async {
        guard database.notify.sends(.forced) else { return }
        var notice = notice(
            .forced, record, database: database,
            summary:
                "\(record.database): switchover to \(record.toImage) forced outside the maintenance windows: \(reason)")
        notice.reason = reason
        notice.forcedByDeadline = true
        notice.switchoverAt = ScheduleText.iso(now())
        await send(notice, database: database)
    }

    /// Tells how a run, resume or abort ended (`completed`, `failed`, `aborted`).
    func notifyEnded(
        _ record: ChangeoverRecord, database: DatabaseConfig, outcome: ChangeoverMachine.Outcome,
        newPrimary: Endpoint?
    ) async {
        let event: NotifyEvent
        switch outcome {
        case .completed: event = .completed
        case .failed: event = .failed
        case .aborted: event = .aborted
        case .stopped: return
        }
        guard database.notify.sends(event) else { return }
        let failed = record.machine.failedStep.map { "\($0) failed: " } ?? ""
        let pause = record.facts.writePauseMilliseconds
        let summary =
            switch outcome {
            case .completed:
                "\(record.database): changed over to \(record.toImage)\(pause.map { String(format: " (write pause %.1f ms)", $0) } ?? "")"
                    + (newPrimary.map { ", new primary \($0.host):\($0.port)" } ?? "")
            case .failed:
                "\(record.database): changeover to \(record.toImage) failed: \(failed)\(record.machine.failure ?? ""); it needs an operator"
            default:
                "\(record.database): changeover to \(record.toImage) aborted: \(failed)\(record.machine.failure ?? ""); rolled back, the old primary serves"
            }
        var notice = notice(event, record, database: database, summary: summary)
        notice.outcome = outcome.rawValue
        notice.failedStep = record.machine.failedStep?.rawValue
        notice.failure = record.machine.failure
        notice.writePauseMs = outcome == .completed ? pause : nil
        notice.newPrimary = outcome == .completed ? newPrimary.map { .init(host: $0.host, port: $0.port) } : nil
        if let window = record.facts.window, window.end > window.start {
            notice.window = .init(window, zone: Self.zone(of: database))
        }
        await send(notice, database: database)
    }
}
