import Foundation
import Testing

@testable import ChangeoverCore
@testable import ChangeoverDaemon

/// The daemon's decision over a snapshot of what its tick read: pure, no store, no server, no
/// clock (the instant is the snapshot's).
@Suite struct DaemonDecisionTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    let me = "root@here pid 1 (daemon)"

    func record(
        _ id: String, step: ChangeoverStep = .pending, stopped: StopNote? = nil, policy: SwitchPolicy.Mode = .window
    ) -> ChangeoverRecord {
        var record = ChangeoverRecord(
            id: id, database: "db-\(id)", fromImage: "pg15", toImage: "pg15-patched",
            machine: ChangeoverMachine(step: step), startedAt: now, updatedAt: now, facts: [:], timings: [],
            policy: SwitchPolicy(mode: policy))
        record.stopped = stopped
        return record
    }

    /// A plan made at `now`: due (a deadline already passed forces it) or a week away.
    func plan(due: Bool, fresh: Bool = false, reminds: Bool = false, database: String) -> DaemonDecision.Planned {
        let gate = SwitchoverGate(
            schedule: WindowSchedule(windows: []), needed: .seconds(60), margin: .seconds(60),
            deadline: due ? now.addingTimeInterval(-60) : now.addingTimeInterval(7 * 86_400))
        let plan = StartPlan(
            gate: gate, estimate: .init(duration: .seconds(60), basis: "test"),
            lead: .init(duration: .seconds(3600), basis: "test"), now: now)
        let made = ChangeoverDaemon.CachedPlan(
            inputs: .init(record: 0, config: 0, bytes: nil, history: 0, lastEnded: nil), plan: plan, gate: gate,
            zone: TimeZone(identifier: "UTC")!, madeAt: now, database: database)
        return .init(made: made, fresh: fresh, reminds: reminds)
    }

    func snapshot(
        _ records: [ChangeoverRecord], due: Set<String> = [], running: Set<String> = [], concurrency: Int = 2,
        shared: Bool = false
    ) -> DaemonDecision.Snapshot {
        var snapshot = DaemonDecision.Snapshot(
            now: now, records: records, running: running, concurrency: concurrency, sharedStore: shared, actor: me)
        for record in records where record.machine.step == .pending {
            snapshot.plans[record.id] = plan(due: due.contains(record.id), database: record.database)
        }
        return snapshot
    }

    func lease(_ record: ChangeoverRecord, holder: String, expired: Bool) -> LeaseState {
        LeaseState(
            lease: Lease(
                database: record.database, changeover: record.id, holder: holder, token: 7,
                expiresAt: expired ? now.addingTimeInterval(-30) : now.addingTimeInterval(30), daemon: true),
            released: false, expired: expired)
    }

    func reason(_ decision: DaemonDecision, _ id: String) -> String? {
        if case .reason(let text) = decision.waiting[id] { return text }
        return nil
    }

    @Test func aDueScheduledChangeoverIsLaunchedWhileASlotIsFree() {
        let decision = DaemonDecision.decide(snapshot([record("a")], due: ["a"], running: ["other"], concurrency: 2))
        #expect(decision.actions.map(\.description) == ["launch a"])
        #expect(decision.eventful)
    }

    @Test func aDueScheduledChangeoverWaitsWhileEverySlotIsTaken() {
        let decision = DaemonDecision.decide(snapshot([record("a")], due: ["a"], running: ["other"], concurrency: 1))
        #expect(decision.actions.isEmpty)
        #expect(reason(decision, "a") == "due, waiting for a free slot (daemon.concurrency 1)")
    }

    @Test func theOldestDueChangeoversTakeTheFreeSlotsAndTheRestWait() {
        let records = [record("a"), record("b"), record("c")]
        let decision = DaemonDecision.decide(snapshot(records, due: ["a", "b", "c"], concurrency: 2))
        #expect(decision.actions.map(\.description) == ["launch a", "launch b"])
        #expect(reason(decision, "c")?.hasPrefix("due, waiting for a free slot") == true)
    }

    @Test func aScheduledChangeoverNotDueWaitsForItsPlanAndIsNotLaunched() {
        let decision = DaemonDecision.decide(snapshot([record("a")]))
        #expect(decision.actions.isEmpty)
        #expect(decision.plans["a"] != nil)
        #expect(decision.windows["a"]?.start == now.addingTimeInterval(7 * 86_400))
    }

    @Test func aQuietFleetYieldsNoActionAndItsLookHoldsUntilAPlanFallsDue() {
        let ended = record("done", step: .done)
        let decision = DaemonDecision.decide(snapshot([record("a"), ended, record("manual", policy: .now)]))
        #expect(decision.actions.isEmpty)
        #expect(!decision.eventful)
        #expect(decision.waiting.keys.sorted() == ["a"])
        // The plan starts its hour-long lead before the deadline a week away; the plan's
        // maximum age comes first.
        #expect(decision.holdsUntil == now.addingTimeInterval(ChangeoverDaemon.planMaxAge))
    }

    @Test func aFreshPlanIsAnnouncedAndAReminderSentBeforeTheLaunch() {
        var snapshot = snapshot([record("a")], due: ["a"])
        snapshot.plans["a"] = plan(due: true, fresh: true, reminds: true, database: "db-a")
        let decision = DaemonDecision.decide(snapshot)
        #expect(decision.actions.map(\.description) == ["announce a", "remind a", "launch a"])
    }

    @Test func aChangeoverLeasedByAnotherLiveDaemonIsLeftAlone() {
        let stuck = record("a", step: .awaitWindow)
        var snapshot = snapshot([stuck, record("b")], due: ["b"], shared: true)
        snapshot.leases[stuck.database] = lease(stuck, holder: "other@there pid 2 (daemon)", expired: false)
        snapshot.leases["db-b"] = lease(record("b"), holder: "other@there pid 2 (daemon)", expired: false)
        let decision = DaemonDecision.decide(snapshot)
        #expect(decision.actions.isEmpty)
        #expect(
            reason(decision, "b")
                == "another controller holds the lease on db-b: other@there pid 2 (daemon) (fencing token 7)")
        #expect(!DaemonDecision.needsPlan(record("b"), in: snapshot))
    }

    @Test func aChangeoverWhoseDaemonLetItsLeaseExpireIsTakenOver() {
        let abandoned = record("a", step: .awaitWindow)
        var snapshot = snapshot([abandoned], shared: true)
        snapshot.leases[abandoned.database] = lease(abandoned, holder: "other@there pid 2 (daemon)", expired: true)
        #expect(DaemonDecision.decide(snapshot).actions.map(\.description) == ["take over a"])
        // On a store of its own, a dead daemon's changeover waits for `resume`.
        snapshot.sharedStore = false
        #expect(DaemonDecision.decide(snapshot).actions.isEmpty)
    }

    @Test func aChangeoverThisDaemonStoppedIsPickedUpUnlessALockHoldsItsDatabase() {
        let note = StopNote(kind: .stopped, reason: "SIGTERM", step: .catchUp, by: me, daemon: true, at: now)
        let stopped = record("a", step: .catchUp, stopped: note)
        var snapshot = snapshot([stopped])
        #expect(DaemonDecision.needsLock(stopped, in: snapshot))
        #expect(DaemonDecision.decide(snapshot).actions.map(\.description) == ["launch a"])
        snapshot.locks[stopped.database] = LockHolder(
            changeover: "a", actor: "op@here pid 3", pid: 3, since: now)
        let decision = DaemonDecision.decide(snapshot)
        #expect(decision.actions.isEmpty)
        #expect(reason(decision, "a") == "another controller works on db-a: a (op@here pid 3)")
    }

    @Test func nothingStartsWhileTheDaemonShutsDownOrForWhatRunsAlready() {
        var snapshot = snapshot([record("a"), record("b")], due: ["a", "b"], running: ["a"])
        #expect(DaemonDecision.decide(snapshot).actions.map(\.description) == ["launch b"])
        snapshot.shuttingDown = true
        #expect(DaemonDecision.decide(snapshot).actions.isEmpty)
    }

    @Test func aScheduledChangeoverWhoseDatabaseLeftTheConfigSaysSo() {
        var snapshot = snapshot([record("a")], due: ["a"])
        snapshot.plans = [:]
        let decision = DaemonDecision.decide(snapshot)
        #expect(decision.actions.isEmpty)
        #expect(reason(decision, "a") == "database db-a is not in the config any more")
    }

    @Test func aScheduleEntryIsRecordedUnlessItsDatabaseIsUnderWayOrAlreadyThere() {
        func entry(_ id: String, database: String, step: ChangeoverStep) -> ChangeoverIndex.Entry {
            var made = record(id, step: step)
            made.database = database
            return ChangeoverIndex.Entry(made, stamp: 0)
        }
        // Newest first, as the index reads them.
        let records = [
            entry("busy-2", database: "busy", step: .catchUp), entry("there-1", database: "there", step: .done),
            entry("failed-1", database: "failed", step: .aborted),
        ]
        let entries = ["busy", "there", "failed", "new"].map {
            ScheduledChangeover(database: $0, image: "pg15-patched")
        }
        // An aborted last try is looked at again (and refused with a warning when it is recorded).
        #expect(
            DaemonDecision.entriesToRecord(entries, records: records).map(\.database) == ["failed", "new"])
        // An entry to another image than the database's last changeover's is recorded.
        #expect(
            DaemonDecision.entriesToRecord(
                [ScheduledChangeover(database: "there", image: "pg16")], records: records
            ).map(\.database) == ["there"])
    }
}
