import Foundation

/// A changeover as `status` and the daemon's `GET /status` report it: the stored record and
/// what is true right now.
public struct ChangeoverStatus: Encodable, Sendable {
    public var record: ChangeoverRecord
    /// running (a live controller holds the database), scheduled (recorded, not started),
    /// stopped (stopped before the switchover; resume continues), prepared (`switch` cuts over),
    /// interrupted (no controller; resume or abort it), rollback unfinished, or ended.
    public var state: String
    public var controller: LockHolder?
    public var secondsInStep: Double
    public var waitingFor: String?
    /// The latest retry of a remote call in the current step of a changeover not ended.
    public var retrying: RetryNote?

    /// `plan` says what a scheduled changeover waits for (see `StartPlan.describe`); the hints
    /// name `config` (the config file's path) so that they run as they are copied.
    public init(_ record: ChangeoverRecord, store: StateStore, now: Date, plan: String? = nil, config: String? = nil) {
        func command(_ words: String...) -> String { FleetConfig.command(words, config: config) }
        self.record = record
        let holder = store.lockHolder(database: record.database)
        controller = holder?.changeover == record.id ? holder : nil
        let step = record.machine.step
        secondsInStep = now.timeIntervalSince(record.updatedAt)
        if controller != nil {
            state = "running"
        } else if record.machine.rollbackUnfinished == true {
            state = "rollback unfinished"
        } else if step.isTerminal {
            state = "ended"
        } else if step == .pending, record.policy != nil {
            state = "scheduled"
        } else if let stopped = record.stopped {
            state = stopped.kind == .prepared ? "prepared" : "stopped"
        } else {
            state = "interrupted"
        }
        if !step.isTerminal, let note = store.lastRetry(of: record.id), note.at >= record.updatedAt {
            retrying = note
        }
        switch state {
        case "running":
            // A progress line older than the step is the previous step's.
            let progress = store.progressNote(of: record.id)
            waitingFor = progress.map { $0.at >= record.updatedAt } == true ? progress!.text : step.summary
        case "rollback unfinished":
            waitingFor =
                "an operator: the rollback could not finish; run \(command("abort", record.id, "--yes")) once the old primary is reachable"
        case "scheduled":
            waitingFor =
                (plan ?? "the daemon, or \(command("resume", record.id))")
                + (record.facts["schedule.moved"].map { "; earlier: \($0)" } ?? "")
        case "prepared":
            waitingFor =
                "an operator: the follower has caught up and keeps streaming; \(command("switch", record.id)) cuts over "
                + "(add --now to cut over at once, else in the next window), \(command("abort", record.id, "--yes")) removes it"
        case "stopped":
            let note = record.stopped!
            waitingFor =
                "a controller: stopped in \(note.step) (\(note.reason)) by \(note.by) at \(ScheduleText.iso(note.at)); "
                + "\(command("resume", record.id)) continues\(note.daemon ? ", so does the daemon when it starts" : "")"
        case "interrupted":
            waitingFor = "an operator: run \(command("resume", record.id)) or \(command("abort", record.id, "--yes"))"
        case "ended"
        where step == .failed && record.machine.failedStep.map(ChangeoverStep.afterPromotion.contains) == true:
            waitingFor =
                "an operator: the new primary serves, but \(record.machine.failedStep!) failed; "
                + "\(command("resume", record.id)) does it again once its cause is fixed"
        default:
            waitingFor = nil
        }
    }
}
