import Foundation

/// Moves campaigns on, one look at a time; the daemon calls `tick` on its own timer.
///
/// A look at a campaign, under its exclusion (below):
/// 1. An operator's abort cancels the changeovers it scheduled that have not started, and ends it.
/// 2. An operator's resume after a halt clears the halt (a failed gate runs again; the failures
///    so far are acknowledged and no longer count against `maxFailures`).
/// 3. The outcomes of its changeovers are read from their records.
/// 4. Paused or halted: nothing more. Otherwise the current wave begins (its changeovers
///    scheduled, within `maxParallel` and `maxParallelPerHost`, each to switch in its database's
///    own next fitting window); more failures than `maxFailures` halt it; once every member of
///    the wave has ended, the gate runs, and the next wave begins only if the gate passed.
///
/// Exclusion: a `flock` lock per campaign on this host, and with a shared store its lease
/// (named `campaign ID`), renewed while a gate runs; a campaign another controller is moving on
/// is left to it this time.
public struct CampaignDriver: Sendable {
    public var runner: ChangeoverRunner
    /// Told what happened, for the daemon's log: a message and its metadata.
    public var log: @Sendable (String, [String: String]) -> Void
    /// At most this many changeovers scheduled per look: a wave of thousands is scheduled over
    /// a few ticks rather than in one long one.
    public var schedulePerLook = 200

    public init(runner: ChangeoverRunner, log: @escaping @Sendable (String, [String: String]) -> Void = { _, _ in }) {
        self.runner = runner
        self.log = log
    }

    var store: StateStore { runner.store }

    /// One look at every campaign that has not finished.
    public func tick() async {
        let campaigns: [Campaign]
        do {
            campaigns = try store.campaigns()
        } catch {
            log("cannot read the campaigns", ["error": String(describing: error)])
            return
        }
        for campaign in campaigns where !campaign.isFinished {
            do {
                try await look(at: campaign.id)
            } catch {
                log("cannot move the campaign on", ["campaign.id": campaign.id, "error": String(describing: error)])
            }
        }
    }

    /// One look at campaign `id` under its exclusion; nothing when another controller has it.
    public func look(at id: String) async throws {
        let lock: DatabaseLock
        do {
            lock = try store.lock(database: Self.lockName(id), changeover: id, actor: runner.actor)
        } catch is DatabaseBusy {
            return
        }
        defer { withExtendedLifetime(lock) {} }
        var keeper: LeaseKeeper?
        if store.isShared {
            let sent = ContinuousClock.now
            guard
                let lease = try await store.claim(
                    database: Self.lockName(id), changeover: id, holder: runner.actor, daemon: true)
            else { return }
            keeper = LeaseKeeper(lease: lease, store: store, claimedAt: sent)
            keeper?.start()
        }
        do {
            // Read under the exclusion: a copy read before may be stale.
            if var campaign = try store.campaign(id), !campaign.isFinished {
                try await advance(&campaign, keeper: keeper)
            }
        } catch {
            await keeper?.release()
            throw error
        }
        await keeper?.release()
    }

    /// Campaign ids begin with `campaign-`, so they share no name with a database.
    static func lockName(_ id: String) -> String { id }

    /// Steps 1–4 of the type's comment, saving what changed.
    func advance(_ campaign: inout Campaign, keeper: LeaseKeeper?) async throws {
        let now = runner.now()
        let before = campaign
        func save() throws {
            guard campaign != before else { return }
            try keeper?.check()
            campaign.updatedAt = Date()
            try store.save(campaign, fencedBy: keeper?.lease)
        }

        if campaign.control.command == .abort {
            let cancelled = await cancelPending(
                campaign, reason: "campaign \(campaign.id) aborted by \(campaign.control.by)")
            campaign.state = .aborted
            campaign.finishedAt = now
            try audit(
                campaign, "aborted",
                "aborted by \(campaign.control.by): \(cancelled) scheduled changeover(s) cancelled; "
                    + "changeovers already under way go on", facts: ["cancelled": String(cancelled)], keeper: keeper)
            return try save()
        }
        if let halt = campaign.halt, campaign.resumed(from: halt) {
            if halt.kind == .failures { campaign.forgivenFailures = campaign.failures }
            campaign.halt = nil
            campaign.state = .running
            try audit(campaign, "resumed", "resumed by \(campaign.control.by) after: \(halt.reason)", keeper: keeper)
        }
        try refreshOutcomes(&campaign)
        guard campaign.halt == nil, campaign.control.command == .run else { return try save() }

        var scheduled = 0
        while campaign.current < campaign.waves.count {
            let index = campaign.current
            let name = campaign.waves[index].wave.text
            if campaign.waves[index].startedAt == nil {
                campaign.waves[index].startedAt = now
                try audit(
                    campaign, "wave-started",
                    "wave \(index + 1) of \(campaign.waves.count), \(name): "
                        + "\(campaign.waves[index].members.count) database(s)", facts: ["wave": name], keeper: keeper)
            }
            let counted = campaign.failures - campaign.forgivenFailures
            if counted > campaign.maxFailures {
                let failed = campaign.members.filter { $0.outcome == .failed }.suffix(counted)
                    .map { "\($0.database) (\($0.note ?? "failed"))" }.joined(separator: ", ")
                campaign.halt(
                    .failures,
                    "\(counted) failed changeover(s), more than --max-failures \(campaign.maxFailures): \(failed)",
                    at: now)
                try announceHalt(campaign, keeper: keeper)
                return try save()
            }
            scheduled += try schedule(&campaign, wave: index, limit: schedulePerLook - scheduled)
            guard campaign.waves[index].ended else { break }
            if campaign.waves[index].finishedAt == nil { campaign.waves[index].finishedAt = now }
            if campaign.gate != nil, !campaign.waves[index].passedGate {
                // The wave's end is on record before a long gate: an observation of its members'
                // records (each audited by its changeover), not a change this record authorises.
                try save()
                let run = await runGate(campaign, wave: index, keeper: keeper)
                campaign.waves[index].gates.append(run)
                let said = run.output.split(whereSeparator: \.isNewline).last.map { ": \($0)" } ?? ""
                let result = run.status.map { "exited with status \($0)" } ?? "did not run to its end"
                try audit(
                    campaign, run.passed ? "gate-passed" : "gate-failed",
                    "the gate after wave \(name) \(result)\(String(said.prefix(300)))",
                    facts: [
                        "wave": name, "gate.status": run.status.map(String.init) ?? "none",
                        "gate.seconds": String(format: "%.1f", run.finishedAt.timeIntervalSince(run.startedAt)),
                    ], keeper: keeper)
                guard run.passed else {
                    campaign.halt(.gate, "the gate after wave \(name) \(result)\(String(said.prefix(300)))", at: Date())
                    try announceHalt(campaign, keeper: keeper)
                    return try save()
                }
            }
            campaign.current += 1
        }
        if campaign.current == campaign.waves.count, campaign.state != .completed {
            campaign.state = .completed
            campaign.finishedAt = Date()
            let members = campaign.members
            let count = { (outcome: Campaign.MemberOutcome) in members.filter { $0.outcome == outcome }.count }
            try audit(
                campaign, "completed",
                "\(count(.done)) changed over, \(count(.failed)) failed, \(count(.skipped)) skipped",
                facts: [
                    "done": String(count(.done)), "failed": String(count(.failed)), "skipped": String(count(.skipped)),
                ], keeper: keeper)
        }
        try save()
    }

    private func announceHalt(_ campaign: Campaign, keeper: LeaseKeeper?) throws {
        let reason = campaign.halt?.reason ?? ""
        try audit(
            campaign, "halted", "\(reason); \(runner.config.command("campaign", "resume", campaign.id)) continues it",
            keeper: keeper)
        log("campaign halted", ["campaign.id": campaign.id, "reason": reason])
    }

    /// Reads how the changeovers it scheduled ended.
    private func refreshOutcomes(_ campaign: inout Campaign) throws {
        for w in campaign.waves.indices {
            for m in campaign.waves[w].members.indices where campaign.waves[w].members[m].inFlight {
                let id = campaign.waves[w].members[m].changeover!
                guard let record = try store.changeover(id) else {
                    campaign.waves[w].members[m].outcome = .failed
                    campaign.waves[w].members[m].note = "its changeover \(id) is not in the store"
                    continue
                }
                guard !record.machine.canContinue else { continue }
                let done = record.machine.step == .done
                campaign.waves[w].members[m].outcome = done ? .done : .failed
                campaign.waves[w].members[m].note =
                    done
                    ? nil
                    : "\(record.machine.step)\(record.machine.failure.map { ": \(String($0.prefix(200)))" } ?? "")"
            }
        }
    }

    /// Schedules the wave's next members (at most `limit`) within the parallelism limits;
    /// returns how many it scheduled. A member whose database runs the image already is
    /// skipped; one whose database has a changeover to the image under way adopts it; one whose
    /// database has another changeover under way waits for it.
    private func schedule(_ campaign: inout Campaign, wave w: Int, limit: Int) throws -> Int {
        let members = campaign.members
        var inFlight = members.filter(\.inFlight).count
        var perHost: [String: Int] = [:]
        for member in members where member.inFlight { perHost[member.host, default: 0] += 1 }
        var active: [String: ChangeoverRecord]?  // read once, when first needed
        var count = 0
        for m in campaign.waves[w].members.indices {
            let member = campaign.waves[w].members[m]
            guard member.changeover == nil, member.outcome == nil else { continue }
            if count >= limit { break }
            if let max = campaign.maxParallel, inFlight >= max { break }
            if let max = campaign.maxParallelPerHost, perHost[member.host, default: 0] >= max { continue }
            guard let database = try? runner.config.database(member.database) else {
                campaign.waves[w].members[m].outcome = .skipped
                campaign.waves[w].members[m].note = "no longer in the inventory"
                continue
            }
            if (try store.database(member.database)?.image ?? database.image) == member.image {
                campaign.waves[w].members[m].outcome = .skipped
                campaign.waves[w].members[m].note = "already on \(member.image)"
                continue
            }
            if active == nil {
                active = Dictionary(try store.changeovers().filter(\.machine.canContinue).map { ($0.database, $0) }) {
                    newer, _ in newer
                }
            }
            if let other = active?[member.database] {
                if other.toImage == member.image {
                    campaign.waves[w].members[m].changeover = other.id
                    campaign.waves[w].members[m].note = "adopted \(other.id), already under way"
                } else {
                    campaign.waves[w].members[m].note = "waits for \(other.id) (to \(other.toImage)) to end"
                    continue
                }
            } else {
                let wave = campaign.waves[w].wave
                do {
                    let record = try runner.schedule(
                        database: member.database, image: member.image,
                        policy: SwitchPolicy(mode: .window, deadline: campaign.deadline),
                        source: "campaign \(campaign.id), wave \(wave.text)",
                        facts: ["campaign": campaign.id, "campaign.wave": wave.text])
                    campaign.waves[w].members[m].changeover = record.id
                    campaign.waves[w].members[m].note = nil
                    count += 1
                } catch is DatabaseBusy {
                    campaign.waves[w].members[m].note = "waits: another controller works on it"
                    continue
                } catch {
                    campaign.waves[w].members[m].outcome = .failed
                    campaign.waves[w].members[m].note = "not scheduled: \(String(describing: error))"
                    continue
                }
            }
            inFlight += 1
            perHost[member.host, default: 0] += 1
        }
        return count
    }

    /// Aborts the changeovers the campaign scheduled that have not started; returns how many.
    /// One that a controller has begun in the meantime is left to go on.
    private func cancelPending(_ campaign: Campaign, reason: String) async -> Int {
        var cancelled = 0
        for member in campaign.members where member.inFlight {
            guard let id = member.changeover, let record = try? store.changeover(id), record.machine.step == .pending,
                record.facts.campaign == campaign.id
            else { continue }
            if (try? await runner.abort(id: id, reason: reason)) != nil { cancelled += 1 }
        }
        return cancelled
    }

    /// Runs the gate with `/bin/sh -c`, told the campaign, the wave and its databases, without
    /// the config's password variables; its lease (if any) renewed meanwhile by its keeper.
    private func runGate(_ campaign: Campaign, wave w: Int, keeper: LeaseKeeper?) async -> Campaign.GateRun {
        let wave = campaign.waves[w]
        let environment = [
            "CHANGEOVER_CAMPAIGN": campaign.id,
            "CHANGEOVER_IMAGE": campaign.image,
            "CHANGEOVER_WAVE": wave.wave.text,
            "CHANGEOVER_WAVE_NUMBER": String(w + 1),
            "CHANGEOVER_WAVES": String(campaign.waves.count),
            "CHANGEOVER_DATABASES": wave.members.filter { $0.outcome == .done }.map(\.database).joined(separator: " "),
        ]
        let started = Date()
        let timeout = Duration.milliseconds(Int64(campaign.gateTimeoutSeconds * 1000))
        log("running the gate", ["campaign.id": campaign.id, "wave": wave.wave.text])
        do {
            let outcome = try await Subprocess.run(
                ["/bin/sh", "-c", campaign.gate ?? "true"], environment: environment,
                unsetting: runner.secretVariables, processGroup: true, timeout: timeout)
            let output = (outcome.stdout + outcome.stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            return Campaign.GateRun(
                startedAt: started, finishedAt: Date(), status: outcome.status,
                output: ConfigError.maskingPasswords(in: String(output.suffix(2000))))
        } catch {
            let why =
                error.description.hasPrefix("sh did not finish")
                ? "did not finish within \(ScheduleText.duration(timeout)); killed" : error.description
            return Campaign.GateRun(startedAt: started, finishedAt: Date(), status: nil, output: why)
        }
    }

    /// An audit record about the campaign, written before the save of the change it records;
    /// under a lease, with its fencing token and holder (as a changeover's records carry theirs).
    /// When it cannot be written the look ends there, saving nothing.
    private func audit(
        _ campaign: Campaign, _ outcome: String, _ message: String, facts: [String: String] = [:],
        keeper: LeaseKeeper? = nil
    ) throws {
        var facts = facts.merging(["image": campaign.image]) { ours, _ in ours }
        if let lease = keeper?.lease {
            try keeper?.check()
            facts["lease.token"] = String(lease.token)
            facts["lease.holder"] = lease.holder
        }
        try runner.journal.record([
            AuditEntry(
                changeover: campaign.id, database: "", step: "campaign", outcome: outcome, message: message,
                facts: facts)
        ])
        log("campaign \(outcome)", ["campaign.id": campaign.id, "message": message])
    }
}
