import Foundation

/// Scheduling on top of the executor: intents recorded for later (`schedule`, `run --in-window`,
/// the daemon), the await-window step, and the plans `status` and the daemon show.
extension ChangeoverRunner {
    /// The steps a stop request may interrupt (or stop before): nothing of the switchover.
    static let stoppable: Set<ChangeoverStep> = [.preflight, .provision, .catchUp, .awaitWindow]

    /// Records the intent to change `database` over to `image`: a `pending` changeover with its
    /// policy, audited, not started. The daemon (or `run --in-window`, or `resume`) starts it.
    /// Refused while the database has another changeover that has not ended. `facts` are kept
    /// in the record (a campaign's id and wave).
    public func schedule(
        database: String, image: String, policy: SwitchPolicy, source: String,
        facts extra: [String: String] = [:]
    ) throws -> ChangeoverRecord {
        let made = try scheduled(database: database, image: image, policy: policy, source: source, facts: extra)
        defer { withExtendedLifetime(made.lock) {} }
        // Audited before it is saved: a daemon may start a pending changeover the moment it reads it.
        try journal.record(made.entry) { try store.save(made.record) }
        return made.record
    }

    /// A request of `schedule(batch:)`.
    public struct ScheduleRequest: Sendable {
        public var database: String
        public var image: String
        public var policy: SwitchPolicy
        public init(database: String, image: String, policy: SwitchPolicy) {
            self.database = database
            self.image = image
            self.policy = policy
        }
    }

    /// Records many intents as `schedule` records one, with one audit append (one sync) for all
    /// their records and then one store transaction: the audit records still precede the store
    /// writes they authorise. Each database's lock is held from its check to the save. Returns,
    /// in order, each request's record or why it was refused; if the audit log or the store
    /// cannot be written, every request that was not refused fails with that error.
    public func schedule(batch requests: [ScheduleRequest], source: String) -> [Result<ChangeoverRecord, any Error>] {
        var results: [Result<ChangeoverRecord, any Error>] = []
        var made: [(index: Int, record: ChangeoverRecord, entry: AuditEntry, lock: DatabaseLock)] = []
        // Every lock first, then what the checks read, read once for the whole batch: which
        // databases have any changeover or any history, their states, the fleet's last base
        // backups. Read after the locks, so that nothing recorded for a locked database since
        // goes unseen.
        var locked: [Result<(id: String, lock: DatabaseLock), any Error>] = []
        for request in requests {
            let id = Self.newID(database: request.database, at: now())
            locked.append(
                Result { (id, try store.lockToRecord(database: request.database, changeover: id, actor: actor)) })
        }
        let batch = BatchReads(
            withChangeovers: (try? store.databasesWithChangeovers()) ?? nil,
            withDurations: (try? store.databasesWithDurations()) ?? nil,
            states: try? store.databases(),
            fleetBaseBackups: (try? store.durations(step: DurationSample.basebackup, limit: 10)) ?? [])
        for (index, request) in requests.enumerated() {
            do {
                let held = try locked[index].get()
                let one = try scheduled(
                    database: request.database, image: request.image, policy: request.policy, source: source,
                    facts: [:], held: held, batch: batch)
                made.append((index, one.record, one.entry, one.lock))
                results.append(.success(one.record))
            } catch {
                results.append(.failure(error))
            }
        }
        defer { withExtendedLifetime(made.map(\.lock)) {} }
        guard !made.isEmpty else { return results }
        do {
            try journal.record(made.map(\.entry)) { try store.save(made.map(\.record)) }
        } catch {
            for one in made { results[one.index] = .failure(error) }
        }
        return results
    }

    /// What `schedule(batch:)` reads once for all its checks; nil where the store does not say
    /// (each database is then read on its own).
    private struct BatchReads {
        var withChangeovers: Set<String>?
        var withDurations: Set<String>?
        var states: [String: DatabaseState]?
        var fleetBaseBackups: [DurationSample]
    }

    /// A scheduled changeover's record and audit record, checked under the database's lock
    /// (`held`, taken with its id by the caller, or taken here; returned: held until the record
    /// is saved); nothing written.
    private func scheduled(
        database: String, image: String, policy: SwitchPolicy, source: String, facts extra: [String: String],
        held: (id: String, lock: DatabaseLock)? = nil, batch: BatchReads? = nil
    ) throws -> (record: ChangeoverRecord, entry: AuditEntry, lock: DatabaseLock) {
        let databaseConfig = try config.database(database)
        let toImage = try config.image(image)
        let id = held?.id ?? Self.newID(database: database, at: now())
        let lock = try held?.lock ?? store.lock(database: database, changeover: id, actor: actor)
        let maybeActive = batch?.withChangeovers.map { $0.contains(database) } ?? true
        if maybeActive, let active = try store.changeovers(database: database).first(where: { $0.machine.canContinue })
        {
            throw ChangeoverRefused(
                description: "database \(database) already has changeover \(active.id) (\(active.machine.step)); "
                    + "let it finish, or abort it first")
        }
        let current = try batch?.states.map { $0[database] } ?? store.database(database)
        let fromImage = current?.image ?? databaseConfig.image
        guard fromImage != toImage.name else {
            throw ChangeoverRefused(description: "database \(database) already runs \(toImage.name)")
        }
        let record = ChangeoverRecord(
            id: id, database: database, fromImage: fromImage, toImage: toImage.name, machine: ChangeoverMachine(),
            startedAt: now(), updatedAt: now(),
            facts: ChangeoverFacts(
                ["old.address": current?.primary ?? databaseConfig.primary.address, "scheduled.by": source]
                    .merging(extra) { ours, _ in ours }), timings: [],
            policy: policy)
        // One history read for the plan and its gate.
        let history =
            if let batch {
                estimateHistory(database, fleetBaseBackups: batch.fleetBaseBackups, withDurations: batch.withDurations)
            } else {
                estimateHistory(database)
            }
        let plan = startPlan(for: record, dataBytes: nil, history: history)
        let message = plan.describe(
            gate: gate(for: record, database: databaseConfig, history: history), at: now(),
            zone: Self.zone(of: databaseConfig))
        if policy.mode == .window, plan.startAt == nil {
            throw ChangeoverRefused(
                description: "cannot schedule \(database): \(message.replacingOccurrences(of: "never: ", with: ""))")
        }
        let entry = AuditEntry(
            changeover: id, database: database, step: "schedule", outcome: "recorded", message: message,
            facts: ["from": fromImage, "to": toImage.name, "source": source].merging(policy.auditFacts) { a, _ in a }
                .merging(extra) { a, _ in a })
        return (record, entry, lock)
    }

    /// Starts (or continues) a stored changeover: a scheduled one from its preflight.
    public func start(id: String) async throws -> ChangeoverSummary {
        try await resume(id: id)
    }

    /// Drives a scheduled (`pending`) changeover from the database's current primary and image:
    /// the database may have moved since it was scheduled.
    func start(_ record: inout ChangeoverRecord, lock: DatabaseLock, policy: SwitchPolicy?) async throws
        -> ChangeoverSummary
    {
        if let policy { record.policy = policy }
        let prepared = try prepare(database: record.database, image: record.toImage, id: record.id)
        record.fromImage = prepared.fromImage.name
        record.facts.oldAddress = prepared.oldEndpoint.address
        let first = try record.machine.handle(.begin)
        return try await ChangeoverExecutor.drive(
            self, record, prepared, lock: lock, first: first,
            opening: (
                "started", "scheduled: \(prepared.fromImage.name) → \(prepared.toImage.name)",
                [
                    "from": prepared.fromImage.name, "to": prepared.toImage.name,
                    "primary": prepared.oldEndpoint.description,
                ]
                .merging((record.policy ?? .now).auditFacts) { a, _ in a }
            ))
    }

    // MARK: plans

    /// The zone a database's times are shown in: its first window's, UTC without windows.
    public static func zone(of database: DatabaseConfig) -> TimeZone {
        database.windows.first?.timeZone ?? TimeZone(identifier: "UTC")!
    }

    /// The fit rule for `record`: the database's windows, its switchover estimate, the margin,
    /// the changeover's deadline.
    public func gate(for record: ChangeoverRecord, database: DatabaseConfig) -> SwitchoverGate {
        gate(for: record, database: database, history: estimateHistory(record.database))
    }

    /// The fit rule, from a history the caller read (`estimateHistory`).
    public func gate(for record: ChangeoverRecord, database: DatabaseConfig, history: [DurationSample])
        -> SwitchoverGate
    {
        let estimate = SwitchoverEstimate.switchover(
            history: history, database: record.database, policy: config.scheduling)
        return SwitchoverGate(
            schedule: config.schedule(for: database), needed: estimate.duration,
            margin: config.scheduling.margin, deadline: record.policy?.deadline)
    }

    /// When a scheduled changeover's follower should be provisioned. `dataBytes` is the
    /// database's size when measured (the daemon asks the primary); else the last copy's size.
    /// The plan as of `at` (now when nil). A caller that compares the plan's start with an
    /// instant of its own must pass that instant: an open window plans its start "now", and a
    /// fresh now is later than the caller's.
    public func startPlan(for record: ChangeoverRecord, dataBytes: Int64?, at instant: Date? = nil) -> StartPlan {
        startPlan(for: record, dataBytes: dataBytes, at: instant, history: estimateHistory(record.database))
    }

    /// The plan, from a history the caller read (`estimateHistory`) and passes to `gate` too.
    public func startPlan(
        for record: ChangeoverRecord, dataBytes: Int64?, at instant: Date? = nil, history: [DurationSample]
    ) -> StartPlan {
        let now = instant ?? self.now()
        guard let database = try? config.database(record.database) else {
            let gate = SwitchoverGate(schedule: WindowSchedule(windows: []), needed: .zero, margin: .zero)
            return StartPlan(
                gate: gate, estimate: .init(duration: .zero, basis: ""), lead: .init(duration: .zero, basis: ""),
                now: now)
        }
        let gate = gate(for: record, database: database, history: history)
        let estimate = SwitchoverEstimate.switchover(
            history: history, database: record.database, policy: config.scheduling)
        let lead = SwitchoverEstimate.lead(
            dataBytes: dataBytes, history: history, database: record.database,
            holdFor: database.catchUp.holdFor, policy: config.scheduling)
        return StartPlan(gate: gate, estimate: estimate, lead: lead, now: now)
    }

    /// The state store's durations history for `database`'s estimates; none (the defaults)
    /// when it cannot be read.
    public func estimateHistory(_ database: String, fleetBaseBackups: [DurationSample]? = nil) -> [DurationSample] {
        (try? store.estimateHistory(database: database, fleetBaseBackups: fleetBaseBackups)) ?? []
    }

    /// As `estimateHistory(_:fleetBaseBackups:)` for one of many databases: nothing of its own
    /// is read when `withDurations` (`StateStore.databasesWithDurations`, read once for all of
    /// them) does not hold it. A daemon's first look over 10,000 scheduled changeovers spent a
    /// fifth of its time reading the history of databases that had none.
    public func estimateHistory(
        _ database: String, fleetBaseBackups: [DurationSample], withDurations: Set<String>?
    ) -> [DurationSample] {
        (try? store.estimateHistory(
            database: database, fleetBaseBackups: fleetBaseBackups,
            hasOwn: withDurations.map { $0.contains(database) } ?? true)) ?? []
    }

    // MARK: the await-window step

    /// Waits until the changeover may switch, per its policy: at once (`now`), never (`hold`:
    /// stops as prepared), or when its window is open with room for the switchover or its
    /// deadline has come (`window`). While waiting it checks again every `recheckEvery` that
    /// the follower is caught up, and once more when the window opens. `note` writes an audit
    /// record of this step (its outcome, message and facts). `caughtUpJustNow`: this controller
    /// has just performed the catch-up step, so the follower's hold needs no second check before
    /// the window (a changeover resumed or switched from this step was caught up earlier, and
    /// may have fallen behind since).
    func awaitWindow(
        _ record: inout ChangeoverRecord, _ prepared: Prepared, caughtUpJustNow: Bool,
        note: (String, String?, [String: String]) throws -> Void
    ) async throws {
        let policy = record.policy ?? .now
        let engine = prepared.engine
        let progress = ProgressWriter(store: store, changeover: record.id, events: events)
        switch policy.mode {
        case .hold:
            if !caughtUpJustNow { record.facts = try await caughtUp(record.facts, engine) }
            throw ChangeoverStopped(
                .prepared, "prepared: the follower on \(prepared.toImage.name) has caught up and keeps streaming")
        case .now:
            // A changeover stopped or prepared earlier may have fallen behind meanwhile.
            if !caughtUpJustNow { record.facts = try await caughtUp(record.facts, engine) }
            record.facts.windowDecision = "now"
            return
        case .window:
            break
        }
        let history = estimateHistory(record.database)
        let gate = gate(for: record, database: prepared.database, history: history)
        let estimate = SwitchoverEstimate.switchover(
            history: history, database: record.database, policy: config.scheduling)
        let zone = Self.zone(of: prepared.database)
        let clock = ContinuousClock()
        var lastCheck: ContinuousClock.Instant? = caughtUpJustNow ? clock.now : nil
        var announced: String?
        var forcedNotified = false
        var planFacts: [String: String] = [
            "estimate": ScheduleText.duration(estimate.duration), "estimate.basis": estimate.basis,
            "margin": ScheduleText.duration(config.scheduling.margin),
        ]
        planFacts["deadline"] = policy.deadline.map(ScheduleText.iso)
        while true {
            let now = self.now()
            let decision = gate.decide(at: now)
            switch decision {
            case .never(let reason):
                throw EngineError(reason)
            case .open, .forced:
                if case .forced(let reason) = decision, !forcedNotified {
                    // Before the catch-up check, so that delivering it does not stand between the check and the fence.
                    forcedNotified = true
                    await notifyForced(record, database: prepared.database, reason: reason)
                }
                progress(
                    "\(gate.describe(decision, at: now, zone: zone)); checking that the follower is still caught up")
                record.facts = try await caughtUp(record.facts, engine)
                let checked = self.now()
                let still = gate.decide(at: checked)
                switch still {
                case .open(let opening):
                    record.facts.windowDecision = "open"
                    record.facts.window = opening
                    try note(
                        "open", gate.describe(still, at: checked, zone: zone),
                        planFacts.merging([
                            "window.start": ScheduleText.iso(opening.start),
                            "window.end": ScheduleText.iso(opening.end),
                        ]) { a, _ in a })
                    return
                case .forced(let reason):
                    record.facts.windowDecision = "forced"
                    record.facts.forcedReason = reason
                    try note("forced", reason, planFacts)
                    return
                default:
                    continue  // the window closed while the follower was checked: decide again
                }
            case .wait(let until, let opening, let skipped):
                let text = gate.describe(decision, at: now, zone: zone)
                let key = "\(opening?.start ?? until)|\(skipped.map(\.start))"
                if key != announced {
                    announced = key
                    var facts = planFacts
                    facts["window.start"] = opening.map { ScheduleText.iso($0.start) }
                    facts["window.end"] = opening.map { ScheduleText.iso($0.end) }
                    try note(skipped.isEmpty ? "waiting" : "moved", text, facts)
                }
                progress(text)
                await remind(&record, database: prepared.database, decision: decision, now: now)
                if lastCheck.map({ clock.now - $0 >= config.scheduling.recheckEvery }) ?? true {
                    record.facts = try await caughtUp(record.facts, engine)
                    lastCheck = clock.now
                    continue
                }
                let seconds = max(0.01, min(until.timeIntervalSince(now), 1.0))
                try await stop.sleep(for: .milliseconds(Int64(seconds * 1000)))
            }
        }
    }

    /// The engine's catch-up again (its lag thresholds and hold), interrupted by a stop request.
    private func caughtUp(_ facts: Facts, _ engine: any Engine) async throws -> Facts {
        try await stop.interruptible {
            var facts = facts
            try await engine.catchUp(&facts)
            return facts
        }
    }
}

extension SwitchPolicy {
    /// The policy as audit facts.
    var auditFacts: [String: String] {
        var facts: [String: String] = ["switch": mode.rawValue]
        facts["deadline"] = deadline.map(ScheduleText.iso)
        return facts
    }
}
