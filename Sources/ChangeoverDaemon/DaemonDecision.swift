import ChangeoverCore
import Foundation

/// What one look of the daemon's tick decided: the actions to perform and what `/status` shows
/// of the changeovers that wait. Made by `decide`, a pure function of a `Snapshot` (no I/O, no
/// clock: the instant is in the snapshot); the tick reads the snapshot, decides, then performs.
struct DaemonDecision: Sendable {
    /// What the tick read before deciding.
    struct Snapshot: Sendable {
        var now: Date
        /// The changeovers that can continue, oldest first.
        var records: [ChangeoverRecord]
        /// The changeovers this daemon drives now, by id.
        var running: Set<String>
        /// At most this many run at once (`daemon.concurrency`).
        var concurrency: Int
        var shuttingDown = false
        /// Several controllers share the store: leases say who works on what.
        var sharedStore = false
        /// This daemon, as it holds leases.
        var actor: String
        /// Each database's lease (shared store), where it could be read.
        var leases: [String: LeaseState] = [:]
        /// Who holds each database's lock, for the databases `needsLock` names.
        var locks: [String: LockHolder] = [:]
        /// The campaigns of scheduled changeovers, by id.
        var campaigns: [String: Campaign] = [:]
        /// The plans of the scheduled changeovers `needsPlan` names whose database resolves.
        var plans: [String: Planned] = [:]
    }

    /// A scheduled changeover's plan as the tick has it.
    struct Planned: Sendable {
        var made: ChangeoverDaemon.CachedPlan
        /// Made in this look (not from the cache): its announcements are due.
        var fresh: Bool
        /// Its database is notified of reminders.
        var reminds: Bool
    }

    /// Why the daemon would drive a changeover it does not drive now.
    enum Candidate: Sendable, Equatable {
        /// Recorded for its window (`pending`).
        case scheduled
        /// Stopped by this daemon (or one on this store) before its switchover: picked up again.
        case stoppedHere
        /// Driven by a daemon that stopped renewing its lease (shared store): taken over.
        case abandoned
    }

    var actions: [DaemonAction] = []
    /// What each changeover that is not started waits for.
    var waiting: [String: ChangeoverDaemon.Waiting] = [:]
    /// The plans made or kept in this look (the next look's cache).
    var plans: [String: ChangeoverDaemon.CachedPlan] = [:]
    /// When each scheduled changeover's target window opens.
    var windows: [String: (database: String, start: Date)] = [:]
    /// Something was done or waits for a reason: the next look cannot be skipped.
    var eventful = false
    /// Until when the plans kept stand (a quiet look holds until then).
    var holdsUntil: Date

    /// Walks the changeovers oldest first: what may start and is due is launched while a slot
    /// is free; what may not says why.
    static func decide(_ snapshot: Snapshot) -> DaemonDecision {
        let now = snapshot.now
        var decision = DaemonDecision(holdsUntil: now.addingTimeInterval(ChangeoverDaemon.planMaxAge))
        var launched = 0
        for record in snapshot.records {
            guard let candidate = candidate(record, in: snapshot) else { continue }
            let scheduled = candidate == .scheduled
            // A scheduled changeover's lock is looked at once it is due (below): with thousands
            // scheduled, a lock file read for each on every tick was most of the tick.
            if !scheduled, let holder = snapshot.locks[record.database] {
                decision.waiting[record.id] = .reason(lockedText(record.database, holder))
                continue
            }
            if let reason = blocker(record, scheduled: scheduled, in: snapshot) {
                decision.waiting[record.id] = .reason(reason)
                continue
            }
            if scheduled {
                guard let planned = snapshot.plans[record.id] else {
                    decision.waiting[record.id] = .reason("database \(record.database) is not in the config any more")
                    continue
                }
                let made = planned.made
                decision.plans[record.id] = made
                decision.waiting[record.id] = .plan(made)
                if case .wait(let until, let opening, _) = made.plan.decision {
                    decision.windows[record.id] = (record.database, opening?.start ?? until)
                }
                decision.holdsUntil = min(
                    decision.holdsUntil, made.madeAt.addingTimeInterval(ChangeoverDaemon.planMaxAge),
                    made.plan.startAt ?? .distantFuture)
                if planned.fresh { decision.actions.append(.announce(record, made)) }
                if planned.reminds {
                    decision.eventful = true
                    decision.actions.append(.remind(changeover: record.id))
                }
                guard made.plan.isDue(at: now) else { continue }
                if let holder = snapshot.locks[record.database] {
                    decision.waiting[record.id] = .reason(lockedText(record.database, holder))
                    continue
                }
            }
            guard snapshot.running.count + launched < snapshot.concurrency else {
                decision.waiting[record.id] = .reason(
                    "due, waiting for a free slot (daemon.concurrency \(snapshot.concurrency))")
                continue
            }
            launched += 1
            decision.eventful = true
            decision.actions.append(.launch(record, takingOver: candidate == .abandoned))
        }
        // Anything that waits for a reason (a lock, a lease, a campaign, a slot) is looked at again.
        if decision.waiting.values.contains(where: { if case .reason = $0 { true } else { false } }) {
            decision.eventful = true
        }
        return decision
    }

    /// The config's `schedule:` entries that may have something to record: not those whose
    /// database has a changeover under way, or whose newest changeover brought it to the
    /// entry's image. Known from the records read (`records`, newest first), without two more
    /// reads per entry on every tick.
    static func entriesToRecord(_ entries: [ScheduledChangeover], records: [ChangeoverIndex.Entry])
        -> [ScheduledChangeover]
    {
        var newest: [String: ChangeoverIndex.Entry] = [:]
        var underWay = Set<String>()
        for record in records {
            if newest[record.database] == nil { newest[record.database] = record }
            if record.canContinue { underWay.insert(record.database) }
        }
        return entries.filter { entry in
            guard !underWay.contains(entry.database) else { return false }
            guard let last = newest[entry.database] else { return true }
            return !(last.toImage == entry.image && last.step == .done)
        }
    }

    /// Why the daemon would drive `record`, or nil: it runs already, the daemon is stopping,
    /// or nothing about it is the daemon's to do.
    static func candidate(_ record: ChangeoverRecord, in snapshot: Snapshot) -> Candidate? {
        guard !snapshot.shuttingDown, !snapshot.running.contains(record.id), record.policy?.mode == .window,
            record.machine.canContinue
        else { return nil }
        let step = record.machine.step
        if step == .pending { return .scheduled }
        guard !step.isTerminal else { return nil }
        if record.stopped?.daemon == true, record.stopped?.kind == .stopped { return .stoppedHere }
        // Only with a shared store: on one host a crashed daemon's changeover waits for
        // `resume`, as it always did.
        if snapshot.sharedStore, let leased = snapshot.leases[record.database], leased.abandoned,
            leased.lease.daemon, leased.lease.changeover == record.id
        {
            return .abandoned
        }
        return nil
    }

    /// Why a candidate may not start whatever its plan: another controller's live lease on its
    /// database, or (scheduled) its campaign paused, halted or aborted.
    static func blocker(_ record: ChangeoverRecord, scheduled: Bool, in snapshot: Snapshot) -> String? {
        if snapshot.sharedStore, let leased = snapshot.leases[record.database], !leased.released, !leased.expired,
            leased.lease.holder != snapshot.actor
        {
            return "another controller holds the lease on \(record.database): \(leased.lease.holder) "
                + "(fencing token \(leased.lease.token))"
        }
        if scheduled, let id = record.facts["campaign"], let campaign = snapshot.campaigns[id],
            !campaign.letsChangeoversStart
        {
            return "campaign \(id) is \(campaign.effectiveState): it starts no changeover"
        }
        return nil
    }

    /// Whether `decide` looks at `record`'s plan: a scheduled changeover nothing else holds back.
    static func needsPlan(_ record: ChangeoverRecord, in snapshot: Snapshot) -> Bool {
        candidate(record, in: snapshot) == .scheduled && blocker(record, scheduled: true, in: snapshot) == nil
    }

    /// Whether `decide` looks at the lock of `record`'s database: a candidate that is not
    /// scheduled, or a scheduled one whose plan (in `snapshot`) is due.
    static func needsLock(_ record: ChangeoverRecord, in snapshot: Snapshot) -> Bool {
        guard let candidate = candidate(record, in: snapshot) else { return false }
        return candidate != .scheduled || snapshot.plans[record.id]?.made.plan.isDue(at: snapshot.now) == true
    }

    static func lockedText(_ database: String, _ holder: LockHolder) -> String {
        "another controller works on \(database): \(holder.changeover) (\(holder.actor))"
    }
}
