import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Synchronization
import Testing

@Suite(.serialized) struct RedisChangeoverTests {
    /// Three Redis changeovers in a row under a writer that records every acknowledged SADD:
    /// every acknowledged write is on each new primary, the old one is retired, the audit verifies.
    @Test func threeRedisChangeoversLoseNoAcknowledgedWrite() async throws {
        try await withScenario(engine: .redis, changeovers: 3) { scenario in
            var previousPort = scenario.primary.port
            for index in 0..<3 {
                let summary = try await scenario.changeover(index)
                try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                try await scenario.writer.waitForAcknowledgements(200)
                let acknowledged = await scenario.writer.acknowledgedSoFar()
                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[index])
                #expect(
                    try await scenario.missing(acknowledged, port: newPrimary.port).isEmpty,
                    "changeover \(index + 1) lost acknowledged writes")
                let connection = try await RedisConnection.connect(
                    scenario.lab.redisEndpoint(port: newPrimary.port), timeout: .seconds(5))
                defer { connection.close() }
                guard case .master = try RedisRole(try await connection.command(["ROLE"], timeout: .seconds(5))) else {
                    Issue.record("the new primary is not a master")
                    return
                }
                #expect(!FreePort.accepts(previousPort), "the old primary on port \(previousPort) was not retired")
                #expect(summary.facts["finalOffset"] != nil)
                previousPort = newPrimary.port
                #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
            }
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(report.acknowledged.count > 600)
            print(
                "three Redis changeovers: \(report.acknowledged.count) acknowledged writes, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
        }
    }

    /// A catch-up that cannot finish in time: follower gone, primary unpaused and writable,
    /// the audit log says why, exit status 4.
    @Test func redisCatchUpTimeoutAbortsCleanly() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 10s\n      pollEvery: 50ms\n      timeout: 1500ms")
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched", "--now"],
                environment: scenario.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(result.stderr.contains("catch-up failed: the follower did not catch up within 1.5 s"))
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty, "follower left behind: \(nodes)")
            #expect(!FreePort.accepts(scenario.followerPorts[0]), "the follower still listens")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(
                records.contains {
                    $0.step == "catch-up" && $0.outcome == "failed" && $0.message?.contains("did not catch up") == true
                })
            #expect(records.last?.outcome == "aborted")
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
        }
    }

    /// 200 MB of data: the initial sync shows progress and nothing acknowledged is lost.
    @Test func largeDatasetShowsSyncProgressAndLosesNothing() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            let connection = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(port: scenario.primary.port), timeout: .seconds(5))
            let value = [UInt8](repeating: 0x61, count: 100_000)
            for batch in 0..<40 {
                var arguments: [[UInt8]] = [Array("MSET".utf8)]
                for n in 0..<50 { arguments += [Array("blob:\(batch):\(n)".utf8), value] }
                _ = try await connection.command(bytes: arguments, timeout: .seconds(30))
            }
            // A fast machine sends 200 MB between two catch-up polls; Redis's own knob for
            // slowing a save (1 ms a key, about 2 s for these keys) keeps the sync long enough
            // to be seen on any machine.
            _ = try await connection.command(["CONFIG", "SET", "rdb-key-save-delay", "1000"], timeout: .seconds(5))
            connection.close()
            let progress = ProgressLog()
            let summary = try await scenario.changeover(0) { event in
                if case .progress(let text) = event { progress.append(text) }
            }
            #expect(summary.outcome == .completed, "\(summary.failure ?? "")")
            let lines = progress.lines
            #expect(lines.contains { $0.contains("initial sync") }, "no sync progress among: \(lines)")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            let check = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(port: scenario.followerPorts[0]), timeout: .seconds(5))
            defer { check.close() }
            #expect(try await check.command(["STRLEN", "blob:39:49"], timeout: .seconds(5)).integer == 100_000)
            print("200 MB sync progress: \(lines.filter { $0.contains("initial sync") })")
        }
    }
}

/// Progress lines collected from the runner's events (called from any task).
final class ProgressLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    var lines: [String] { storage.withLock { $0 } }
}

@Suite(.serialized) struct RedisRetireTests {
    /// With a grace period the old primary stays a replica of the new one (READONLY to stray
    /// clients) until `changeover retire` lets it go; the retirement is audited.
    @Test func oldPrimaryIsKeptAsAReplicaUntilRetired() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            let text = scenario.configText(followerPort: scenario.followerPorts[0])
                .replacingOccurrences(of: "retireAfter: 0s", with: "retireAfter: 1h")
            let summary = try await scenario.changeover(configText: text)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            let old = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(port: scenario.primary.port), timeout: .seconds(5))
            defer { old.close() }
            guard
                case .replica(_, let masterPort, _, _) = try RedisRole(
                    try await old.command(["ROLE"], timeout: .seconds(5)))
            else {
                Issue.record("the old primary is not a replica")
                return
            }
            #expect(masterPort == scenario.followerPorts[0])
            await #expect(throws: RedisError.self) {
                try await old.command(["SET", "stray", "write"], timeout: .seconds(5))
            }

            let early = try await CLI.run(["retire", "--config", scenario.configPath])
            #expect(early.status == 0 && early.stdout.contains("kept until"), "\(early.stdout)\(early.stderr)")
            #expect(FreePort.accepts(scenario.primary.port))
            let forced = try await CLI.run(
                ["retire", "--config", scenario.configPath, "--now"], environment: scenario.environment)
            #expect(forced.status == 0 && forced.stdout.contains("was shut down"), "\(forced.stdout)\(forced.stderr)")
            #expect(!FreePort.accepts(scenario.primary.port), "the old primary still listens")
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(records.contains { $0.step == "retire" && $0.outcome == "succeeded" })
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }
}
