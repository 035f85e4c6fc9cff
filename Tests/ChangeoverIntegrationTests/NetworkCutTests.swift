import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Synchronization
import Testing

/// The link between the controller and the primary's host is cut (a test host in its own
/// network namespace, its veth set down) during catch-up and at the switchover. The controller
/// must notice within its timeouts, retry visibly, and end in a safe state that `status`
/// reports; a cut that heals in time is ridden out; nothing acknowledged is lost.
@Suite(.serialized) struct NetworkCutTests {
    /// Short timeouts so that a cut is noticed in about a second: catch-up holds the lag for
    /// 2 s, so a cut at its first report always lands inside it.
    static func timeouts(catchUp timeout: String) -> String {
        """
              maxLagBytes: 1MB
              holdFor: 2s
              pollEvery: 100ms
              timeout: \(timeout)
            switchover:
              connectTimeout: 1s
              fenceTimeout: 2s
              replayTimeout: 5s
        """
    }

    /// Sets the link down from inside a synchronous event handler, before the runner goes on.
    static func cutNow(_ host: LabNetworkHost) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: LabNetworkHost.ipTool)
        process.arguments = ["link", "set", host.hostInterface, "down"]
        try? process.run()
        process.waitUntilExit()
    }

    static func withCutScenario(
        _ engine: DatabaseConfig.EngineKind, _ body: (LabScenario, LabNetworkHost) async throws -> Void
    ) async throws {
        let scenario = try await LabScenario.start(engine: engine, changeovers: 1, networkHost: true)
        var failure: (any Error)?
        do {
            let host = try #require(scenario.networkHost)
            try await body(scenario, host)
        } catch {
            failure = error
        }
        if let host = scenario.networkHost { try? await host.restore() }
        _ = await scenario.writer.stop()
        await scenario.lab.shutdown()
        if let failure { throw failure }
        try expectNothingLeft(scenario.lab)
    }

    static func status(_ scenario: LabScenario, _ id: String) async throws -> String {
        try await CLI.run(["status", "--config", scenario.configPath, id], environment: scenario.environment).stdout
    }

    static func changeoverID(_ scenario: LabScenario) throws -> String? {
        try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id
    }

    /// A 4-second cut during catch-up: the lag polls fail, are retried with backoff (and
    /// `status` says so while it happens), and the changeover completes once the link is back.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aCutDuringCatchUpIsRiddenOut(engine: DatabaseConfig.EngineKind) async throws {
        try await Self.withCutScenario(engine) { scenario, host in
            let config = scenario.configText(
                followerPort: scenario.followerPorts[0], catchUp: Self.timeouts(catchUp: "2m"))
            let cut = Mutex<Task<String, any Error>?>(nil)
            let summary = try await scenario.changeover(configText: config) { event in
                guard case .progress(let text) = event, text.hasPrefix("lag"), cut.withLock({ $0 == nil }) else {
                    return
                }
                Self.cutNow(host)
                cut.withLock {
                    $0 = Task {
                        try await Task.sleep(for: .seconds(4))
                        let status = try await Self.status(scenario, try Self.changeoverID(scenario) ?? "?")
                        try await host.restore()
                        return status
                    }
                }
            }
            let during = try #require(await cut.withLock { $0 }?.value)
            #expect(during.contains("state    running") && during.contains("step     catch-up"), "\(during)")
            #expect(during.contains("retrying read the "), "status shows the retry while the link is cut: \(during)")
            #expect(summary.outcome == .completed, "\(summary.failure ?? "")")
            let catchUp = try #require(summary.timings.first { $0.step == .catchUp })
            #expect((catchUp.retries ?? 0) >= 2, "\(catchUp)")
            let records = try AuditLog.read(path: try scenario.config().auditLog).filter { $0.changeover == summary.id }
            #expect(
                records.contains {
                    $0.step == "catch-up" && $0.outcome == "succeeded" && Int($0.facts["retries"] ?? "") ?? 0 >= 2
                })
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A cut that outlasts catch-up: the changeover gives up at its deadline and rolls back,
    /// but the rollback cannot reach the primary (Postgres: to drop the slot; Redis: to unpause).
    /// It ends failed with the rollback unfinished, says so in `status`, has removed the
    /// follower, and never touched the primary; once the link is back, `abort` finishes it.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aCutThatOutlastsCatchUpLeavesARollbackThatAbortFinishes(engine: DatabaseConfig.EngineKind) async throws {
        try await Self.withCutScenario(engine) { scenario, host in
            let config = scenario.configText(
                followerPort: scenario.followerPorts[0], catchUp: Self.timeouts(catchUp: "5s"))
            let cut = Mutex(false)
            let summary = try await scenario.changeover(configText: config) { event in
                guard case .progress(let text) = event, text.hasPrefix("lag"), cut.withLock({ !$0 }) else { return }
                cut.withLock { $0 = true }
                Self.cutNow(host)
            }
            try await Self.expectUnfinishedRollbackThenAbort(scenario, host, summary, failedStep: .catchUp)
        }
    }

    /// The link goes down as the switchover starts: the fence cannot reach the primary
    /// (Postgres: the CHECKPOINT before the shutdown; Redis: CLIENT PAUSE), so nothing is
    /// fenced; the rollback cannot reach it either. Same safe end, same way out.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aCutAtTheSwitchoverFencesNothingAndAbortFinishes(engine: DatabaseConfig.EngineKind) async throws {
        try await Self.withCutScenario(engine) { scenario, host in
            let config = scenario.configText(
                followerPort: scenario.followerPorts[0], catchUp: Self.timeouts(catchUp: "2m"))
            let summary = try await scenario.changeover(configText: config) { event in
                if case .stepStarted(.fence) = event { Self.cutNow(host) }
            }
            try await Self.expectUnfinishedRollbackThenAbort(scenario, host, summary, failedStep: .fence)
        }
    }

    /// No cut: the follower dies after the fence, so the old primary must come back, and it
    /// listens on the test host's address, which exists only inside the host's namespace. The
    /// rollback starts it there again.
    @Test func anOldPrimaryOnATestHostIsRestartedThereOnRollback() async throws {
        try await Self.withCutScenario(.postgres) { scenario, host in
            let lab = scenario.lab
            let config = scenario.configText(
                followerPort: scenario.followerPorts[0], catchUp: Self.timeouts(catchUp: "2m"))
            let summary = try await scenario.changeover(configText: config) { event in
                if case .stepStarted(.finalSync) = event { DatabaseFaultTests.killFollower(lab) }
            }
            #expect(summary.outcome == .aborted, "\(summary.outcome): \(summary.failure ?? "")")
            #expect(summary.facts["old.netns"] == host.name)
            #expect(summary.facts["old.restarted"] == "true")
            let pid = try #require(
                LocalPostgres(binDirectory: lab.binDirectory, dataDirectory: scenario.primary.dataDirectory).pidFile()?
                    .pid)
            #expect(host.processes().contains(pid), "the restarted postmaster \(pid) is not inside \(host.name)")
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }

    static func expectUnfinishedRollbackThenAbort(
        _ scenario: LabScenario, _ host: LabNetworkHost, _ summary: ChangeoverSummary,
        failedStep: ChangeoverStep
    ) async throws {
        #expect(summary.outcome == .failed)
        #expect(summary.failedStep == failedStep)
        #expect(summary.rollbackUnfinished)
        #expect(summary.failure?.contains("rollback failed: ") == true, "\(summary.failure ?? "")")
        #expect(
            summary.failure?.contains(" failed ") == true && summary.failure?.contains(" times over ") == true,
            "the failure says the calls were retried: \(summary.failure ?? "")")
        // The follower is gone already: nothing of this changeover runs on this side of the cut.
        let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
        #expect(nodes.isEmpty, "\(nodes)")
        // The primary was never stopped.
        if scenario.engine == .postgres {
            #expect(
                LocalPostgres(binDirectory: scenario.lab.binDirectory, dataDirectory: scenario.primary.dataDirectory)
                    .isRunning)
        }
        let status = try await Self.status(scenario, summary.id)
        #expect(
            status.contains("state    rollback unfinished") && status.contains("changeover abort \(summary.id)"),
            "\(status)")
        // The hint runs as it is printed.
        let hint = try #require(CLI.hints(in: status).first, "\(status)")
        #expect(hint == ["abort", summary.id, "--yes", "--config", scenario.configPath], "\(hint)")

        try await host.restore()
        let abort = try await CLI.run(hint, environment: scenario.environment)
        #expect(abort.status == 0, "\(abort.stdout) \(abort.stderr)")
        let after = try await Self.status(scenario, summary.id)
        #expect(after.contains("step     aborted") && after.contains("state    ended"), "\(after)")
        switch scenario.engine {
        case .postgres:
            let connection = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
        case .redis:
            let connection = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(host: host.address, port: scenario.primary.port),
                timeout: .seconds(5))
            defer { connection.close() }
            // Not paused: a write is answered at once.
            _ = try await connection.command(["SET", "changeover:test:unpaused", "1"], timeout: .seconds(2))
        }
        let audit = try await CLI.run(
            ["audit", "verify", "--config", scenario.configPath], environment: scenario.environment)
        #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")
        try await scenario.writer.waitForAcknowledgements(50)
        let report = await scenario.writer.stop()
        #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
    }
}
