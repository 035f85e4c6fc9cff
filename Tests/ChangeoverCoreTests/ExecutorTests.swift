import ChangeoverCore
import Foundation
import Synchronization
import Testing

/// The executor over a recording engine, router and provisioner: no server, a real SQLite store
/// and a real audit log. Each fake reads the audit log and the store when it is called, so the
/// tests see what the journal had done before each act.
@Suite(.serialized) struct ExecutorTests {
    /// A Redis database `cache` whose changeovers run over `recorder`'s components.
    struct Fleet {
        let directory: String
        let config: FleetConfig

        /// The lease lasts an hour: on a loaded machine a renewal may come late, and these tests
        /// lose the lease only when they take it over.
        init() throws {
            directory =
                FileManager.default.temporaryDirectory.appendingPathComponent("executor-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            config = try FleetConfig.parse(
                """
                stateDirectory: \(directory)/state
                store: {leaseTtl: 1h}
                provisioner: {root: \(directory)/nodes}
                images:
                  redis7: {binDirectory: /usr/bin}
                  redis7-patched: {binDirectory: /usr/bin}
                databases:
                  cache: {engine: redis, image: redis7, primary: "127.0.0.1:6379"}
                """)
        }

        func runner(_ recorder: CallRecorder) -> ChangeoverRunner {
            var runner = ChangeoverRunner(config: config, actor: "executor tests")
            runner.components = recorder.components
            return runner
        }

        func run(_ recorder: CallRecorder) async throws -> ChangeoverSummary {
            try await runner(recorder).run(database: "cache", image: "redis7-patched")
        }

        /// "step outcome" of each of the changeover's audit records, in order.
        func audit(_ id: String) throws -> [String] {
            try AuditLog.read(path: config.auditLog, changeover: id).map { "\($0.step) \($0.outcome)" }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The step each component call of a changeover that goes through belongs to.
    static let stepOfCall: [String: ChangeoverStep] = [
        "engine.preflight": .preflight, "router.check": .preflight,
        "engine.provision": .provision, "provisioner.createRedisFollower": .provision,
        "engine.catchUp": .catchUp,
        "engine.prepareFence": .fence, "router.pause": .fence, "engine.fence": .fence,
        "engine.finalSync": .finalSync,
        "engine.promote": .promote,
        "router.repoint": .repoint, "router.resume": .repoint, "engine.demoteOldPrimary": .repoint,
        "engine.verify": .verify,
        "engine.settle": .settle,
    ]

    static let forwardCalls = [
        "engine.preflight", "router.check", "engine.provision", "provisioner.createRedisFollower", "engine.catchUp",
        "engine.prepareFence", "router.pause", "engine.fence", "engine.finalSync", "engine.promote", "router.repoint",
        "router.resume", "engine.demoteOldPrimary", "engine.verify", "engine.settle",
    ]

    /// The rollback, in the order `ChangeoverStep.rollback` documents: the follower removed (by
    /// the engine, through the provisioner) so nothing can promote it and the old primary
    /// restored, then the clients the router held let go.
    static let rollbackCalls = ["engine.rollBack", "provisioner.removeRedisFollower", "router.resume"]

    @Test func eachStepsAuditRecordAndStoredRecordComeBeforeItsComponentIsCalled() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let recorder = CallRecorder(config: fleet.config)
        let summary = try await fleet.run(recorder)
        #expect(summary.outcome == .completed)
        #expect(recorder.names == Self.forwardCalls)
        for call in recorder.calls {
            let step = try #require(Self.stepOfCall[call.name])
            #expect(call.lastAudit == "\(step) started", "\(call)")
            #expect(call.storedStep == step, "\(call)")
        }
        let audit = try fleet.audit(summary.id)
        #expect(audit.first == "changeover started" && audit.last == "changeover completed")
        #expect(!audit.contains { $0.hasPrefix("rollback") })
    }

    /// Every failure before the promotion (and a promotion that was never requested) rolls back:
    /// once, after the failed call, in the documented order, itself audited before it acts.
    @Test(arguments: [
        ("engine.provision", ChangeoverStep.provision), ("provisioner.createRedisFollower", .provision),
        ("engine.catchUp", .catchUp), ("router.pause", .fence), ("engine.fence", .fence),
        ("engine.finalSync", .finalSync), ("engine.promote", .promote),
    ])
    func aFailureBeforeThePromotionRollsBackInTheDocumentedOrder(failing: String, step: ChangeoverStep) async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let failure: any Error =
            step == .promote
            ? PromotionNotRequested("the follower was gone") : EngineError("\(failing) broke")
        let recorder = CallRecorder(config: fleet.config, failures: [failing: failure])
        let summary = try await fleet.run(recorder)
        #expect(summary.outcome == .aborted && summary.failedStep == step)
        let upToFailure = Array(
            Self.forwardCalls.prefix(through: try #require(Self.forwardCalls.firstIndex(of: failing))))
        #expect(recorder.names == upToFailure + Self.rollbackCalls)
        for call in recorder.calls.suffix(Self.rollbackCalls.count) {
            #expect(call.lastAudit == "rollback started" && call.storedStep == .rollback, "\(call)")
        }
        let audit = try fleet.audit(summary.id)
        #expect(audit.suffix(4) == ["\(step) failed", "rollback started", "rollback succeeded", "changeover aborted"])
    }

    /// From the promotion on, a failure leaves the new primary serving: nothing is rolled back.
    @Test(arguments: [
        ("engine.promote", ChangeoverStep.promote), ("router.repoint", .repoint), ("engine.demoteOldPrimary", .repoint),
        ("engine.verify", .verify), ("engine.settle", .settle),
    ])
    func aFailureFromThePromotionOnNeverRollsBack(failing: String, step: ChangeoverStep) async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let recorder = CallRecorder(config: fleet.config, failures: [failing: EngineError("\(failing) broke")])
        let summary = try await fleet.run(recorder)
        #expect(summary.outcome == .failed && summary.failedStep == step)
        #expect(!recorder.names.contains("engine.rollBack"))
        #expect(!recorder.names.contains("provisioner.removeRedisFollower"))
        #expect(recorder.names.last == failing, "nothing is called after the failure: \(recorder.names)")
        let audit = try fleet.audit(summary.id)
        #expect(!audit.contains { $0.hasPrefix("rollback") })
        #expect(audit.suffix(2) == ["\(step) failed", "changeover failed"])
    }

    /// Another controller takes the lease while a step acts: the executor does nothing more —
    /// no next step, no rollback, not even the step's outcome record — and the record stays
    /// where it was.
    @Test(arguments: ["engine.provision", "engine.fence", "engine.promote"])
    func aLostLeaseStopsTheExecutorBeforeItsNextAct(stealingDuring: String) async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let store = StateStore(config: fleet.config)
        let recorder = CallRecorder(config: fleet.config) { call, changeover in
            guard call == stealingDuring else { return }
            _ = try? await store.claim(
                database: "cache", changeover: changeover, holder: "another controller", daemon: true)
        }
        await #expect(throws: LeaseLost.self) { try await fleet.run(recorder) }
        let step = try #require(Self.stepOfCall[stealingDuring])
        let lastOfStep = try #require(Self.forwardCalls.lastIndex { Self.stepOfCall[$0] == step })
        #expect(recorder.names == Array(Self.forwardCalls.prefix(through: lastOfStep)))
        #expect(!recorder.names.contains("engine.rollBack"))
        let record = try #require(try store.changeovers().first)
        #expect(record.machine.step == step)
        #expect(try fleet.audit(record.id).last == "\(step) started")
    }

    /// The fault hook sees every step's boundaries: `before` once the step's start is audited and
    /// saved, `after` once its action returned and before its outcome is recorded.
    @Test func theFaultHookIsCalledAtEveryStepBoundary() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let recorder = CallRecorder(config: fleet.config)
        let seen = Mutex<[(FaultHook.Boundary, String?)]>([])
        let auditLog = fleet.config.auditLog
        var runner = fleet.runner(recorder)
        runner.faults = FaultHook { boundary in
            let last = (try? AuditLog.read(path: auditLog))?.last.map { "\($0.step) \($0.outcome)" }
            seen.withLock { $0.append((boundary, last)) }
        }
        let summary = try await runner.run(database: "cache", image: "redis7-patched")
        #expect(summary.outcome == .completed)
        let boundaries = seen.withLock { $0 }
        #expect(boundaries.map(\.0) == ChangeoverStep.forward.flatMap { [.before($0), .after($0)] })
        for (boundary, last) in boundaries {
            switch boundary {
            case .before(let step), .after(let step): #expect(last == "\(step) started", "\(boundary)")
            }
        }
    }
}
