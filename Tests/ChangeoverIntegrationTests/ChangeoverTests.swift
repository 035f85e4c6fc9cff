import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

@Suite(.serialized) struct ChangeoverTests {
    /// Three changeovers in a row under a writer that records every acknowledged commit:
    /// after each, every commit acknowledged so far is on the new primary, the old primary is
    /// stopped, the new one is out of recovery and takes writes, and the audit chain verifies.
    @Test func threeChangeoversLoseNoAcknowledgedWrite() async throws {
        try await withScenario(changeovers: 3) { scenario in
            var previousData = scenario.primary.dataDirectory
            for index in 0..<3 {
                let summary = try await scenario.changeover(index)
                #expect(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                try #require(summary.outcome == .completed)
                try await scenario.writer.waitForAcknowledgements(100)
                let acknowledged = await scenario.writer.acknowledgedSoFar()

                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[index])
                let connection = try await scenario.lab.connect(try ConnInfo(newPrimary.address))
                defer { connection.close() }
                let missing = try await AckedWriter.missing(acknowledged, on: connection)
                #expect(missing.isEmpty, "changeover \(index + 1) lost \(missing.count) acknowledged commits")
                #expect(
                    try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar
                        == "false")
                let written = try await connection.query(
                    "INSERT INTO acked_writes (seq) VALUES ($1) RETURNING seq::text", [String(-1 - index)],
                    timeout: .seconds(5))
                #expect(written.scalar == String(-1 - index))

                let old = LocalPostgres(binDirectory: scenario.lab.binDirectory, dataDirectory: previousData)
                #expect(!old.isRunning, "the old primary of changeover \(index + 1) is still running")
                #expect(
                    !FileManager.default.fileExists(
                        atPath: "\(previousData)/pg_replslot/\(summary.facts["slot"] ?? "?")"))
                previousData = try #require(summary.facts["follower.dataDirectory"])

                let audit = AuditLog.verify(path: try scenario.config().auditLog)
                #expect(audit.isIntact, "\(audit.problem?.description ?? "")")
            }
            let report = await scenario.writer.stop()
            let connection = try await scenario.lab.connect(try scenario.currentPrimary())
            defer { connection.close() }
            #expect(try await AckedWriter.missing(report.acknowledged, on: connection).isEmpty)
            #expect(report.acknowledged.count > 300)
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(records.filter { $0.step == "changeover" && $0.outcome == "completed" }.count == 3)
            print(
                "three changeovers: \(report.acknowledged.count) acknowledged commits, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
        }
    }

    /// A catch-up that cannot succeed in time aborts: follower and slot gone, primary still
    /// primary and writable, the audit log says aborted and why, the exit code is not 0.
    @Test func catchUpTimeoutAbortsAndLeavesThePrimaryServing() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 10s\n      pollEvery: 50ms\n      timeout: 1500ms")
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(result.stderr.contains("catch-up failed: the follower did not catch up within 1.5 s"))

            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty, "follower left behind: \(nodes)")
            let connection = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
            #expect(
                try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await AckedWriter.missing(report.acknowledged, on: connection).isEmpty)

            let records = try AuditLog.read(path: try scenario.config().auditLog)
            let catchUp = records.first { $0.step == "catch-up" && $0.outcome == "failed" }
            #expect(catchUp?.message?.contains("did not catch up") == true)
            let last = try #require(records.last)
            #expect(last.step == "changeover" && last.outcome == "aborted")
            #expect(last.message?.contains("catch-up failed") == true)
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
        }
    }
}

/// Runs `body` on a fresh scenario, then stops the writer and every server and checks that
/// nothing is left behind, whether `body` passed or threw.
func withScenario(
    engine: DatabaseConfig.EngineKind = .postgres, changeovers: Int, startWriter: Bool = true,
    _ body: (LabScenario) async throws -> Void
) async throws {
    let scenario = try await LabScenario.start(engine: engine, changeovers: changeovers, startWriter: startWriter)
    var failure: (any Error)?
    do {
        try await body(scenario)
    } catch {
        failure = error
    }
    _ = await scenario.writer.stop()
    await scenario.lab.shutdown()
    if let failure { throw failure }
    try expectNothingLeft(scenario.lab)
}

/// No server of the lab's is left running and its directory is gone.
func expectNothingLeft(_ lab: Lab) throws {
    #expect(!FileManager.default.fileExists(atPath: lab.root), "\(lab.root) was not removed")
    let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    var left: [String] = []
    for pid in processes.compactMap({ Int32($0) }) where Subprocess.isAlive(pid) {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
        let commandLine = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
        if commandLine.contains(lab.root) { left.append("\(pid): \(commandLine)") }
    }
    #expect(left.isEmpty, "processes left running: \(left)")
}
