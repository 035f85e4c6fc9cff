import Foundation

/// The steps themselves: each authorised by the journal, then performed over the components,
/// then its outcome noted for the journal's next write and handed to the machine.
extension ChangeoverExecutor {
    enum StepEnd {
        case next(ChangeoverMachine.Action)
        /// A stop request (or a `hold` policy) stopped the changeover in this step.
        case stopped(ChangeoverStopped)
    }

    mutating func perform(_ step: ChangeoverStep) async throws -> StepEnd {
        if ChangeoverRunner.stoppable.contains(step), let reason = runner.stop.reason {
            return .stopped(ChangeoverStopped(.stopped, reason))
        }
        let retries = prepared.retries
        _ = retries.takeCount()
        journal.note(step.rawValue, "started")
        try journal.authorise(&record, sync: !Self.inPause.contains(step))
        faults(.before(step))
        events(.stepStarted(step))
        let stepBegan = clock.now
        var failure: String?
        var untouched = false
        var stoppedBy: ChangeoverStopped?
        let factsBefore = record.facts
        let reminding = step == .provision || step == .catchUp ? runner.startReminding(record, prepared) : nil
        do {
            try await act(step)
        } catch let stopped as ChangeoverStopped {
            stoppedBy = stopped
        } catch {
            failure = ChangeoverRunner.describe(error)
            untouched = error is PromotionNotRequested
        }
        if let reminding {
            reminding.cancel()
            if let sent = await reminding.value { record.facts[ReminderPlan.fact] = sent }
        }
        faults(.after(step))
        let elapsed = (clock.now - stepBegan).milliseconds
        // What the step learned, and how long it took.
        var learned = record.facts.filter { factsBefore[$0.key] != $0.value }.values
        learned["ms"] = learned["ms"] ?? Self.ms(elapsed)
        if let stoppedBy {
            _ = retries.takeCount()
            record.timings.append(.init(step: step, milliseconds: elapsed, outcome: "stopped"))
            journal.note(step.rawValue, "stopped", stoppedBy.reason, learned)
            return .stopped(stoppedBy)
        }
        let retried = retries.takeCount()
        record.timings.append(
            .init(
                step: step, milliseconds: elapsed, outcome: failure == nil ? "succeeded" : "failed",
                retries: retried > 0 ? retried : nil))
        events(.stepFinished(step, milliseconds: elapsed, error: failure))
        if retried > 0 { learned["retries"] = String(retried) }
        journal.note(step.rawValue, failure == nil ? "succeeded" : "failed", failure, learned)
        let event: ChangeoverMachine.Event =
            failure.map { untouched ? .promotionNotRequested($0) : .stepFailed($0) }
            ?? .stepSucceeded
        return .next(try record.machine.handle(event))
    }

    /// What a forward step does, over the components.
    private mutating func act(_ step: ChangeoverStep) async throws {
        let engine = components.engine
        let router = components.router
        let retries = prepared.retries
        let database = record.database
        switch step {
        case .preflight:
            let checks =
                await engine.preflight() + [await router.check(database: database, primary: prepared.oldEndpoint)]
            events(.checks(checks))
            let failed = checks.filter { !$0.passed }
            if !failed.isEmpty {
                throw EngineError(failed.map { "\($0.name): \($0.detail)" }.joined(separator: "; "))
            }
        case .provision:
            try await engine.provision(&record.facts)
        case .catchUp:
            let facts = record.facts
            record.facts = try await runner.stop.interruptible {
                var facts = facts
                try await engine.catchUp(&facts)
                return facts
            }
            caughtUpHere = true
        case .awaitWindow:
            let journal = self.journal
            var waiting = record
            defer { record = waiting }
            try await runner.awaitWindow(&waiting, prepared, caughtUpJustNow: caughtUpHere) { outcome, message, facts in
                journal.note(ChangeoverStep.awaitWindow.rawValue, outcome, message, facts)
                try journal.flush()
            }
        case .fence:
            try await engine.prepareFence(&record.facts)
            pauseStarted = clock.now
            try await retries.run("pause the router", policy: .inPause) { try await router.pause(database: database) }
            try await engine.fence(&record.facts)
        case .finalSync:
            try await engine.finalSync(&record.facts)
        case .promote:
            let endpoint = try await engine.promote(&record.facts)
            newPrimary = endpoint
            record.facts.newHost = endpoint.host
            record.facts.newPort = endpoint.port
            record.facts.newAddress = endpoint.address
        case .repoint:
            guard let newPrimary else { throw EngineError("no new primary to repoint to") }
            let old = prepared.oldEndpoint
            let id = record.id
            try await retries.run("repoint the router", policy: .inPause) {
                try await router.repoint(database: database, to: newPrimary, from: old, changeover: id)
            }
            try await retries.run("resume the router", policy: .inPause) { try await router.resume(database: database) }
            try await engine.demoteOldPrimary(&record.facts)
            if let pauseStarted {
                let pause = (clock.now - pauseStarted).milliseconds
                pauseMilliseconds = pause
                record.facts.writePauseMilliseconds = pause
            }
        case .verify:
            try await engine.verify(&record.facts)
        case .settle:
            try await engine.settle(&record.facts)
            try settled()
        default:
            throw EngineError("\(step) is not a forward step")
        }
    }

    /// After the settle: when the old primary is due to be retired, and the new primary and
    /// image recorded as the database's.
    private mutating func settled() throws {
        if record.facts.oldRetired != true {
            let at = Date().addingTimeInterval(prepared.database.retireAfter.seconds)
            record.facts.oldRetireAt = at
        }
        guard let newPrimary else { return }
        try runner.store.save(
            DatabaseState(
                database: record.database, image: prepared.toImage.name, primary: newPrimary.address,
                dataDirectory: record.facts.followerDataDirectory, changedAt: Date(), changeover: record.id,
                container: record.facts.followerContainer))
    }

    /// Undoes what the steps up to `failedStep` did: the engine restores the old primary and
    /// removes what provisioning made, then the router lets the clients it held go — whatever
    /// happened to the engine.
    mutating func rollBack(failedStep: ChangeoverStep, reason: String) async throws -> ChangeoverMachine.Action {
        let engine = components.engine
        let router = components.router
        let retries = prepared.retries
        let database = record.database
        journal.note("rollback", "started", "\(failedStep) failed: \(reason)")
        try journal.authorise(&record)
        faults(.before(.rollback))
        events(.stepStarted(.rollback))
        let stepBegan = clock.now
        _ = retries.takeCount()
        var failure: String?
        do {
            try await engine.rollBack(&record.facts)
        } catch {
            failure = ChangeoverRunner.describe(error)
        }
        do {
            try await retries.run("resume the router") { try await router.resume(database: database) }
        } catch {
            failure = [failure, "router resume failed: \(ChangeoverRunner.describe(error))"].compactMap { $0 }
                .joined(separator: "; ")
        }
        faults(.after(.rollback))
        let elapsed = (clock.now - stepBegan).milliseconds
        let retried = retries.takeCount()
        record.timings.append(
            .init(
                step: .rollback, milliseconds: elapsed, outcome: failure == nil ? "succeeded" : "failed",
                retries: retried > 0 ? retried : nil))
        events(.stepFinished(.rollback, milliseconds: elapsed, error: failure))
        var facts = ["ms": Self.ms(elapsed), "old.restarted": String(record.facts.oldRestarted ?? false)]
        if retried > 0 { facts["retries"] = String(retried) }
        journal.note("rollback", failure == nil ? "succeeded" : "failed", failure, facts)
        return try record.machine.handle(failure.map { .stepFailed($0) } ?? .stepSucceeded)
    }
}
