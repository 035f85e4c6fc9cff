import Foundation

/// Drives one changeover to its end (or to a stop before its switchover) in this controller:
/// performs the actions `ChangeoverMachine` returns over the changeover's components, each one
/// authorised by the journal first, and reports each step's boundaries to the fault hook.
struct ChangeoverExecutor {
    /// The steps whose start is written unsynced: they run inside the write pause (see
    /// `ChangeoverJournal`).
    static let inPause: Set<ChangeoverStep> = [.finalSync, .promote, .repoint]

    let runner: ChangeoverRunner
    let prepared: ChangeoverRunner.Prepared
    let journal: ChangeoverJournal
    let lock: DatabaseLock
    var record: ChangeoverRecord
    let clock = ContinuousClock()
    let began: ContinuousClock.Instant
    /// The steps earlier controllers performed (a resumed or aborted changeover): the total
    /// covers the whole changeover, not only this controller's part.
    let earlier: Double
    var newPrimary: Endpoint?
    var pauseStarted: ContinuousClock.Instant?
    var pauseMilliseconds: Double?
    /// This controller performed the catch-up step (see `awaitWindow`).
    var caughtUpHere = false

    var components: ChangeoverComponents { prepared.components }
    var faults: FaultHook { runner.faults }
    func events(_ event: ChangeoverEvent) { runner.events(event) }

    /// Drives the changeover under the database's lease: the one the daemon claimed for it
    /// (`runner.claimed`), or one claimed now. The lease is renewed all along and let go at the
    /// end, or abandoned as it is when it was lost (it is not ours any more).
    static func drive(
        _ runner: ChangeoverRunner, _ record: ChangeoverRecord, _ prepared: ChangeoverRunner.Prepared,
        lock: DatabaseLock, first: ChangeoverMachine.Action,
        opening: (String, String, [String: String])
    ) async throws -> ChangeoverSummary {
        let stop = runner.stop
        let store = runner.store
        let onLost: @Sendable (LeaseLost) -> Void = { lost in stop.request(lost.description) }
        let keeper: LeaseKeeper
        if let claimed = runner.claimed, claimed.lease.database == record.database {
            keeper = LeaseKeeper(lease: claimed.lease, store: store, claimedAt: claimed.at, onLost: onLost)
        } else {
            let sent = ContinuousClock.now
            guard
                let lease = try await store.claim(
                    database: record.database, changeover: record.id,
                    holder: runner.actor, daemon: runner.isDaemon)
            else {
                throw DatabaseLeased(database: record.database, state: try? await store.lease(of: record.database))
            }
            keeper = LeaseKeeper(lease: lease, store: store, claimedAt: sent, onLost: onLost)
        }
        keeper.start()
        let summary: ChangeoverSummary
        do {
            let journal = try ChangeoverJournal(
                runner.journal, store: store, lease: keeper, changeover: record.id,
                database: record.database)
            var executor = ChangeoverExecutor(
                runner: runner, prepared: prepared, journal: journal, lock: lock,
                record: record)
            summary = try await executor.run(first: first, opening: opening)
        } catch {
            if error is LeaseLost { keeper.abandon() } else { await keeper.release() }
            throw error
        }
        await keeper.release()
        return summary
    }

    init(
        runner: ChangeoverRunner, prepared: ChangeoverRunner.Prepared, journal: ChangeoverJournal, lock: DatabaseLock,
        record: ChangeoverRecord
    ) {
        self.runner = runner
        self.prepared = prepared
        self.journal = journal
        self.lock = lock
        self.record = record
        began = clock.now
        earlier = record.timings.reduce(0) { $0 + $1.milliseconds }
        newPrimary = ChangeoverRunner.newPrimary(from: record.facts)
    }

    /// Performs actions until the machine finishes or the changeover stops. The lease is
    /// confirmed with the store (a write conditional on its token) before every action.
    mutating func run(first: ChangeoverMachine.Action, opening: (String, String, [String: String])) async throws
        -> ChangeoverSummary
    {
        events(
            .started(
                id: record.id, database: record.database, from: prepared.fromImage.name,
                to: prepared.toImage.name))
        // The opening record goes out with the first step's; the record is saved after them.
        record.stopped = nil
        journal.note("changeover", opening.0, opening.1, opening.2)
        var action = first
        while true {
            try await journal.confirmLease()
            switch action {
            case .perform(let step):
                switch try await perform(step) {
                case .next(let next): action = next
                case .stopped(let stopped): return try park(stopped, in: step)
                }
            case .rollBack(let failedStep, let reason):
                action = try await rollBack(failedStep: failedStep, reason: reason)
            case .finish(let outcome):
                return try await finish(outcome)
            }
        }
    }

    /// Stops before the switchover: the record says where and why, `resume` performs the step again.
    mutating func park(_ stopped: ChangeoverStopped, in step: ChangeoverStep) throws -> ChangeoverSummary {
        let config = runner.config
        let id = record.id
        record.stopped = StopNote(
            kind: stopped.kind, reason: stopped.reason, step: step, by: runner.actor,
            daemon: runner.isDaemon, at: Date())
        let next =
            stopped.kind == .prepared
            ? "\(config.command("switch", id)) cuts over (add --now to cut over at once, else in the next window)"
            : "\(config.command("resume", id)) continues\(runner.isDaemon ? " (so does the daemon when it starts again)" : "")"
        journal.note(
            "changeover", stopped.kind == .prepared ? "prepared" : "stopped", "\(stopped.reason); \(next)",
            ["step": step.rawValue])
        try journal.authorise(&record)
        events(.stopped(step, reason: stopped.reason))
        withExtendedLifetime(lock) {}
        return summary(.stopped)
    }

    mutating func finish(_ outcome: ChangeoverMachine.Outcome) async throws -> ChangeoverSummary {
        var facts: [String: String] = [
            "outcome": outcome.rawValue, "total.ms": Self.ms(earlier + (clock.now - began).milliseconds),
        ]
        facts["final.position"] = record.facts.finalPosition
        facts["writePause.ms"] = record.facts["writePause.ms"]
        facts["new.primary"] = newPrimary?.description
        let failure = "\(record.machine.failedStep.map { "\($0) failed: " } ?? "")\(record.machine.failure ?? "")"
        journal.note(
            "changeover", outcome == .completed ? "completed" : outcome.rawValue,
            outcome == .completed ? nil : failure, facts)
        try journal.finish(&record, engine: prepared.database.engine)
        await runner.notifyEnded(record, database: prepared.database, outcome: outcome, newPrimary: newPrimary)
        withExtendedLifetime(lock) {}
        return summary(outcome)
    }

    func summary(_ outcome: ChangeoverMachine.Outcome) -> ChangeoverSummary {
        ChangeoverSummary(
            id: record.id, database: record.database, fromImage: prepared.fromImage.name,
            toImage: prepared.toImage.name,
            outcome: outcome, failedStep: record.machine.failedStep, failure: record.machine.failure,
            rollbackUnfinished: record.machine.rollbackUnfinished == true, timings: record.timings,
            finalPosition: record.facts.finalPosition, writePauseMilliseconds: pauseMilliseconds,
            newPrimary: outcome == .completed ? newPrimary : nil, oldPrimary: prepared.oldEndpoint,
            totalMilliseconds: earlier + (clock.now - began).milliseconds, facts: record.facts, stopped: record.stopped)
    }

    /// A duration as the audit log and the record write it: "12.3".
    static func ms(_ milliseconds: Double) -> String { String(format: "%.1f", milliseconds) }
}
