import Foundation

/// A changeover as `status` and the daemon's `GET /status` report it: the stored record and
/// what is true right now.
public struct ChangeoverStatus: Encodable, Sendable {
    public var record: ChangeoverRecord
    public var state: State
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
        state = .of(record, controlled: controller != nil)
        if !step.isTerminal, let note = store.lastRetry(of: record.id), note.at >= record.updatedAt {
            retrying = note
        }
        switch state {
        case .running:
            // A progress line older than the step is the previous step's.
            let progress = store.progressNote(of: record.id)
            waitingFor = progress.map { $0.at >= record.updatedAt } == true ? progress!.text : step.summary
        case .rollbackUnfinished:
            waitingFor =
                "an operator: the rollback could not finish; run \(command("abort", record.id, "--yes")) once the old primary is reachable"
        case .scheduled:
            waitingFor =
                (plan ?? "the daemon, or \(command("resume", record.id))")
                + (record.facts["schedule.moved"].map { "; earlier: \($0)" } ?? "")
        case .prepared:
            waitingFor =
                "an operator: the follower has caught up and keeps streaming; \(command("switch", record.id)) cuts over "
                + "(add --now to cut over at once, else in the next window), \(command("abort", record.id, "--yes")) removes it"
        case .stopped:
            let note = record.stopped!
            waitingFor =
                "a controller: stopped in \(note.step) (\(note.reason)) by \(note.by) at \(ScheduleText.iso(note.at)); "
                + "\(command("resume", record.id)) continues\(note.daemon ? ", so does the daemon when it starts" : "")"
        case .interrupted:
            waitingFor = "an operator: run \(command("resume", record.id)) or \(command("abort", record.id, "--yes"))"
        case .ended
        where step == .failed && record.machine.failedStep.map(ChangeoverStep.afterPromotion.contains) == true:
            waitingFor =
                "an operator: the new primary serves, but \(record.machine.failedStep!) failed; "
                + "\(command("resume", record.id)) does it again once its cause is fixed"
        default:
            waitingFor = nil
        }
    }
}

extension ChangeoverStatus {
    /// Where a changeover stands, as `status`, the daemon's `/status` and its `/metrics` say it
    /// (the raw values are what they print and encode).
    public enum State: String, Codable, Sendable, CaseIterable, CustomStringConvertible {
        /// A live controller holds the database for it.
        case running
        /// Recorded for later, not started.
        case scheduled
        /// Stopped before the switchover; `resume` continues.
        case stopped
        /// `prepare` is done; `switch` cuts over.
        case prepared
        /// No controller holds it and nothing says why: `resume` or `abort` it.
        case interrupted
        /// Its rollback could not finish: `abort` tries again.
        case rollbackUnfinished = "rollback unfinished"
        case ended

        public var description: String { rawValue }

        /// The state of `record`; `controlled`: a live controller holds its database's lock
        /// for it.
        public static func of(_ record: ChangeoverRecord, controlled: Bool) -> State {
            let step = record.machine.step
            if controlled { return .running }
            if record.machine.rollbackUnfinished == true { return .rollbackUnfinished }
            if step.isTerminal { return .ended }
            if step == .pending, record.policy != nil { return .scheduled }
            if let stopped = record.stopped { return stopped.kind == .prepared ? .prepared : .stopped }
            return .interrupted
        }
    }
}
