import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Faults in the databases themselves: each ends in a known state that `status` reports, and
/// no acknowledged write is lost.
@Suite(.serialized) struct DatabaseFaultTests {
    /// SIGKILLs the postmaster of the changeover's follower (the only node under the lab's nodes/)
    /// and waits until it is dead.
    static func killFollower(_ lab: Lab) {
        let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(lab.root)/nodes")) ?? []
        for node in nodes {
            let server = LocalPostgres(binDirectory: lab.binDirectory, dataDirectory: "\(lab.root)/nodes/\(node)/data")
            guard let pid = server.pidFile()?.pid else { continue }
            kill(pid, SIGKILL)
            for _ in 0..<1000 where Subprocess.isAlive(pid) { usleep(1000) }
        }
    }

    static func status(_ scenario: LabScenario, _ id: String) async throws -> String {
        try await CLI.run(["status", "--config", scenario.configPath, id]).stdout
    }

    @Test func followerKilledDuringCatchUpAbortsCleanly() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 30s\n      pollEvery: 50ms\n      timeout: 2m")
            let lab = scenario.lab
            let summary = try await scenario.changeover(
                configText: try String(contentsOfFile: scenario.configPath, encoding: .utf8)
            ) { event in
                if case .progress(let text) = event, text.hasPrefix("lag") { Self.killFollower(lab) }
            }
            #expect(summary.outcome == .aborted)
            #expect(summary.failedStep == .catchUp)
            #expect(
                summary.failure?.contains("the follower stopped during catch-up") == true, "\(summary.failure ?? "")")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            let status = try await Self.status(scenario, summary.id)
            #expect(
                status.contains("state    ended") && status.contains("step     aborted")
                    && status.contains("the follower stopped"), "\(status)")
        }
    }

    /// The follower dies after the old primary was fenced and before the promotion: the old
    /// primary comes back, the writer goes on there, nothing is lost.
    @Test func followerKilledAfterTheFenceBringsTheOldPrimaryBack() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let lab = scenario.lab
            let summary = try await scenario.changeover(0) { event in
                if case .stepStarted(.finalSync) = event { Self.killFollower(lab) }
            }
            #expect(summary.outcome == .aborted)
            // The follower may have replayed everything before it died; either way nothing was
            // promoted and the old primary comes back.
            #expect([.finalSync, .promote].contains(summary.failedStep))
            #expect(summary.facts["old.restarted"] == "true")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            let connection = try await lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
            let status = try await Self.status(scenario, summary.id)
            #expect(status.contains("step     aborted") && status.contains("error"), "\(status)")
        }
    }

    /// The old primary crashes during catch-up: the changeover aborts, says so, and leaves the
    /// old primary running again.
    @Test func oldPrimaryKilledDuringCatchUpAbortsAndReportsIt() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 30s\n      pollEvery: 50ms\n      timeout: 2m")
            let primary = LocalPostgres(
                binDirectory: scenario.lab.binDirectory, dataDirectory: scenario.primary.dataDirectory)
            let summary = try await scenario.changeover(
                configText: try String(contentsOfFile: scenario.configPath, encoding: .utf8)
            ) { event in
                if case .progress(let text) = event, text.hasPrefix("lag"), let pid = primary.pidFile()?.pid {
                    kill(pid, SIGKILL)
                }
            }
            #expect(summary.outcome == .aborted, "\(summary.outcome): \(summary.failure ?? "")")
            #expect(summary.failedStep == .catchUp)
            let report = await scenario.writer.stop()
            #expect(primary.isRunning, "the old primary was not brought back")
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty)
            let status = try await Self.status(scenario, summary.id)
            #expect(status.contains("step     aborted") && status.contains("catch-up"), "\(status)")
        }
    }

    /// The promotion itself fails: the follower's server is frozen (SIGSTOP) as the promotion
    /// starts, so it never answers within the deadline. Past the point of no return the
    /// changeover stops in `failed` for an operator, and `status` says so; the controller itself
    /// never hangs on the frozen server.
    @Test func failedPromotionEndsFailedAndStatusSaysSo() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let lab = scenario.lab
            let text = scenario.configText(
                followerPort: scenario.followerPorts[0], extra: "    switchover: {promoteTimeout: 1s}")
            let summary = try await scenario.changeover(configText: text) { event in
                if case .stepStarted(.promote) = event { Self.signalFollower(lab, SIGSTOP) }
            }
            Self.signalFollower(lab, SIGCONT)
            #expect(summary.outcome == .failed, "\(summary.outcome): \(summary.failure ?? "")")
            #expect(summary.failedStep == .promote)
            let status = try await Self.status(scenario, summary.id)
            #expect(status.contains("step     failed") && status.contains("error    promote:"), "\(status)")
            _ = await scenario.writer.stop()
        }
    }

    /// Sends `signal` to every process of the follower's server (its own process group).
    static func signalFollower(_ lab: Lab, _ signal: Int32) {
        let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(lab.root)/nodes")) ?? []
        for node in nodes {
            let server = LocalPostgres(binDirectory: lab.binDirectory, dataDirectory: "\(lab.root)/nodes/\(node)/data")
            if let pid = server.pidFile()?.pid { kill(-pid, signal) }
        }
    }
}
