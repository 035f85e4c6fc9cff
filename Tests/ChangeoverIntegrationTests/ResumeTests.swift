import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

/// The controller is SIGKILLed at every step boundary (`CHANGEOVER_FAULT`, a test-only switch),
/// then `changeover resume` finishes the changeover: 0 lost acknowledged writes, exactly one
/// server left serving, no orphaned follower, and an audit log that records the interruption
/// and still verifies. With CHANGEOVER_FAULTS_TABLE set, each case appends its row to that file
/// (`make faults-table` puts them into docs/faults.md).
@Suite(.serialized) struct ResumeTests {
    struct Boundary: CustomTestStringConvertible, Sendable {
        var engine: DatabaseConfig.EngineKind
        var fault: String
        var testDescription: String { "\(engine.rawValue) \(fault)" }
    }

    static let boundaries: [Boundary] = [DatabaseConfig.EngineKind.postgres, .redis].flatMap { engine in
        ChangeoverStep.forward.flatMap { step in
            ["kill-before:\(step.rawValue)", "kill-after:\(step.rawValue)"].map { Boundary(engine: engine, fault: $0) }
        }
    }

    @Test(arguments: boundaries)
    func killedControllerIsResumedToCompletion(_ boundary: Boundary) async throws {
        try await withScenario(engine: boundary.engine, changeovers: 1) { scenario in
            let image = scenario.images[1]
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", image, "--now"],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": boundary.fault]) { _, new in new })
            #expect(
                killed.status == 128 + SIGKILL,
                "\(boundary.fault): the controller was not killed (exit \(killed.status)): \(killed.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let record = try #require(try store.changeovers().first)
            #expect(store.lockHolder(database: "orders") == nil, "a killed controller still holds the lock")

            let status = try await CLI.run(["status", "--config", scenario.configPath, record.id])
            #expect(status.stdout.contains("state    interrupted"), "\(status.stdout)")

            // The status hints run as printed: resume (run here) or abort, each with --config.
            let hints = CLI.hints(in: status.stdout)
            #expect(
                hints == [
                    ["resume", record.id, "--config", scenario.configPath],
                    ["abort", record.id, "--yes", "--config", scenario.configPath],
                ],
                "\(status.stdout)")
            let resumed = try await CLI.run(try #require(hints.first), environment: scenario.environment)
            #expect(resumed.status == 0, "\(boundary.fault): resume exited \(resumed.status): \(resumed.stderr)")
            let final = try #require(try store.changeover(record.id))
            #expect(final.machine.step == .done)

            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            let missing = try await scenario.missing(report.acknowledged)
            #expect(missing.isEmpty, "\(boundary.fault): lost \(missing.count) acknowledged writes")
            let newPort = try scenario.currentPrimaryPort()
            #expect(newPort == scenario.followerPorts[0])

            // Exactly the new primary serves; nothing else of the changeover's is left running.
            switch boundary.engine {
            case .postgres:
                let running = scenario.lab.runningServers().map(\.dataDirectory)
                #expect(running == [try #require(final.facts["follower.dataDirectory"])], "running: \(running)")
                let slot = "\(scenario.primary.dataDirectory)/pg_replslot/\(final.facts["slot"] ?? "?")"
                #expect(!FileManager.default.fileExists(atPath: slot), "the slot was left on the old primary")
            case .redis:
                let running = scenario.lab.runningRedisServers().map(\.nodeDirectory)
                #expect(running.count == 1 && running.first?.contains("/nodes/") == true, "running: \(running)")
            }
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes == [record.id], "nodes: \(nodes)")

            let auditPath = try scenario.config().auditLog
            #expect(AuditLog.verify(path: auditPath).isIntact)
            let records = try AuditLog.read(path: auditPath)
            #expect(records.contains { $0.step == "changeover" && $0.outcome == "resumed" })
            #expect(records.last?.outcome == "completed")

            if let table = ProcessInfo.processInfo.environment["CHANGEOVER_FAULTS_TABLE"] {
                let resumedAt = records.last { $0.outcome == "resumed" }?.facts["step"] ?? "?"
                let row =
                    "| \(boundary.engine.rawValue) | SIGKILL \(boundary.fault.replacingOccurrences(of: "kill-", with: "").replacingOccurrences(of: ":", with: " ")) | \(resumedAt) | completed | \(missing.count) | \(AuditLog.verify(path: auditPath).isIntact ? "verifies" : "BROKEN") |\n"
                if let handle = FileHandle(forWritingAtPath: table) {
                    handle.seekToEndOfFile()
                    handle.write(Data(row.utf8))
                    try? handle.close()
                } else {
                    try row.write(toFile: table, atomically: false, encoding: .utf8)
                }
            }
        }
    }

    /// Killed during catch-up, then aborted: the follower and the slot are gone, the old
    /// primary serves and takes writes, the audit log says who aborted.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func interruptedChangeoverIsAborted(_ engine: DatabaseConfig.EngineKind) async throws {
        try await withScenario(engine: engine, changeovers: 1) { scenario in
            let killed = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", scenario.images[1],
                    "--now",
                ],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-before:fence"]) { _, new in new })
            #expect(killed.status == 128 + SIGKILL)
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let refused = try await CLI.run(["abort", "--config", scenario.configPath, id])
            #expect(refused.status == 2 && refused.stderr.contains("--yes"), "\(refused.stderr)")
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            #expect(try store.changeover(id)?.machine.step == .aborted)
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty)
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            if engine == .postgres {
                let connection = try await scenario.lab.connect(scenario.primary.conninfo)
                defer { connection.close() }
                #expect(
                    try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                        .scalar == "0")
            }
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(records.contains { $0.outcome == "abort-requested" })
            #expect(records.last?.outcome == "aborted")
            let again = try await CLI.run(["abort", "--config", scenario.configPath, id, "--yes"])
            #expect(again.status == 2 && again.stderr.contains("already ended"))
        }
    }

    /// After the promotion there is no going back: abort is refused, resume finishes.
    @Test func abortAfterThePromotionIsRefused() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-after:promote"]) { _, new in new })
            #expect(killed.status == 128 + SIGKILL)
            let id = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id)
            let refused = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.environment)
            #expect(refused.status == 2)
            #expect(refused.stderr.contains("past the point of no return"), "\(refused.stderr)")
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, id], environment: scenario.environment)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A changeover interrupted while the state directory was the previous version's JSON files
    /// (one per changeover, written the way that version wrote them) is imported by the next
    /// command and resumed to completion.
    @Test func aChangeoverInterruptedUnderTheJSONStoreIsResumed() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-after:promote"]) { _, new in new })
            #expect(killed.status == 128 + SIGKILL)
            let state = "\(scenario.lab.root)/state"
            let record = try #require(try StateStore(directory: state).changeovers().first)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try FileManager.default.createDirectory(atPath: "\(state)/changeovers", withIntermediateDirectories: true)
            try encoder.encode(record).write(to: URL(fileURLWithPath: "\(state)/changeovers/\(record.id).json"))
            for suffix in ["", "-wal", "-shm"] {
                try FileManager.default.removeItem(atPath: "\(state)/state.sqlite\(suffix)")
            }

            let status = try await CLI.run(["status", "--config", scenario.configPath, record.id])
            #expect(status.stdout.contains("step     promote"), "\(status.stdout)\(status.stderr)")
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, record.id], environment: scenario.environment)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            #expect(try StateStore(directory: state).changeover(record.id)?.machine.step == .done)
            #expect(try StateStore(directory: state).database("orders")?.changeover == record.id)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// Two controllers on one database: exactly one acts; the other is refused at once, naming
    /// the first. `status` tells the truth about the running one.
    @Test func secondControllerOnTheSameDatabaseIsRefused() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 60s\n      pollEvery: 50ms\n      timeout: 2m")
            let arguments = [
                "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now",
            ]
            async let first = CLI.run(arguments, environment: scenario.environment)
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            var holder: LockHolder?
            let deadline = ContinuousClock.now + .seconds(30)
            while try holder == nil || store.changeover(holder!.changeover)?.machine.step != .catchUp {
                guard ContinuousClock.now < deadline else { break }
                holder = store.lockHolder(database: "orders")
                try await Task.sleep(for: .milliseconds(50))
            }
            let running = try #require(holder)
            let second = try await CLI.run(arguments, environment: scenario.environment)
            #expect(second.status == 7, "exit \(second.status): \(second.stderr)")
            #expect(second.stderrLines.count == 1)
            #expect(second.stderr.contains("is being changed over by \(running.changeover)"), "\(second.stderr)")
            #expect(try store.changeovers().count == 1, "the refused controller recorded a changeover")

            try await Task.sleep(for: .seconds(1.5))
            let status = try await CLI.run(["status", "--config", scenario.configPath, running.changeover])
            #expect(status.stdout.contains("state    running"), "\(status.stdout)")
            #expect(status.stdout.contains("step     catch-up"))
            #expect(status.stdout.contains("waiting  lag"), "\(status.stdout)")

            kill(running.pid, SIGKILL)
            let result = try await first
            #expect(result.status == 128 + SIGKILL)
            let after = try await CLI.run(["status", "--config", scenario.configPath, running.changeover])
            #expect(after.stdout.contains("state    interrupted"), "\(after.stdout)")
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, running.changeover, "--yes"],
                environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }
}
