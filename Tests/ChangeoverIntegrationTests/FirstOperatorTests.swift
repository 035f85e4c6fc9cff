import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// What a first operator tripped over, each on the real CLI and real servers: a resumed
/// catch-up holds the follower once, usage errors exit 2, and what `status`, `windows`, `plan`
/// and `run` print.
@Suite(.serialized) struct FirstOperatorTests {
    /// A controller killed in catch-up and resumed with `--now` performs the catch-up hold once:
    /// the await-window step does not hold the follower a second time.
    @Test func aResumedCatchUpIsNotHeldAgainInAwaitWindow() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try scenario.configText(
                followerPort: scenario.followerPorts[0],
                catchUp: "      maxLagBytes: 1MB\n      holdFor: 3s\n      pollEvery: 50ms\n      timeout: 2m"
            )
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-before:catch-up"]) { _, new in new
                })
            #expect(killed.status == 128 + SIGKILL, "\(killed.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, id], environment: scenario.environment)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let record = try #require(try store.changeover(id))
            let catchUp = try #require(record.timings.last { $0.step == .catchUp })
            let awaitWindow = try #require(record.timings.last { $0.step == .awaitWindow })
            #expect(catchUp.milliseconds >= 3000, "\(record.timings)")
            #expect(awaitWindow.milliseconds < 1500, "held again: \(record.timings)")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A Redis primary that never had a replica: its replication offset stays 0, yet the
    /// writer's rate is measured, and a backlog too small for it fails preflight naming the size.
    @Test func aSmallBacklogUnderAFastWriterFailsPreflightNamingTheSize() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            let connection = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(scenario.primary), timeout: .seconds(5))
            defer { connection.close() }
            _ = try await connection.command(["CONFIG", "SET", "repl-backlog-size", "16384"], timeout: .seconds(5))
            try await scenario.writer.waitForAcknowledgements(200)
            // A fast writer beside the scenario's: redis-benchmark's SETs of 8 KB values, in a
            // process of its own (a task of this one starves when the machine is loaded).
            let fast = try Subprocess.spawn(
                [
                    "redis-benchmark", "-h", scenario.primary.host, "-p", String(scenario.primary.port), "-a",
                    scenario.lab.superuserPassword,
                    "-t", "set", "-d", "8192", "-r", "64", "-n", "100000000", "-c", "2", "-q",
                ],
                outputPath: "\(scenario.lab.root)/redis-benchmark.out", newSession: true)
            defer {
                kill(fast, SIGKILL)
                _ = Subprocess.reap(fast)
            }
            func received() async throws -> Int64 {
                RedisInfo(parsing: try await connection.command(["INFO", "stats"], timeout: .seconds(5)).string ?? "")
                    .integer("total_net_input_bytes") ?? 0
            }
            let before = try await received()
            let deadline = ContinuousClock.now + .seconds(30)
            while try await received() - before < 1 << 20 {
                try #require(
                    ContinuousClock.now < deadline,
                    "redis-benchmark wrote nothing: \((try? String(contentsOfFile: "\(scenario.lab.root)/redis-benchmark.out", encoding: .utf8)) ?? "")"
                )
                try await Task.sleep(for: .milliseconds(20))
            }
            let plan = try await CLI.run(
                ["plan", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched"],
                environment: scenario.environment)
            #expect(plan.status == 3, "\(plan.stdout)\(plan.stderr)")
            let line = try #require(
                plan.stdout.split(separator: "\n").first { $0.contains("replication backlog") }, "\(plan.stdout)")
            #expect(line.contains("FAIL") && line.contains("repl-backlog-size 16384 bytes"), "\(line)")
            #expect(
                line.range(of: #"set repl-backlog-size \d+mb or more"#, options: .regularExpression) != nil, "\(line)")
            _ = await scenario.writer.stop()
        }
    }

    /// `follower: {ports: A-B}`: every changeover takes a free port of the range that is not the
    /// primary's, so a database changes over again from its new primary; a fixed port that the
    /// primary holds now is refused with the range to give.
    @Test func followerPortsLetADatabaseChangeOverAgainAndAgain() async throws {
        // No writer: it follows the scenario's own reserved ports, not this range (zero loss
        // over repeated changeovers is ChangeoverTests' to show).
        try await withScenario(changeovers: 2, startWriter: false) { scenario in
            var base = 0
            for _ in 0..<200 {
                let candidate = Int.random(in: 20_000...40_000)
                if (candidate...candidate + 3).allSatisfy({ FreePort.isFree($0) }) {
                    base = candidate
                    break
                }
            }
            #expect(base > 0)
            try scenario.configText(followerPort: nil, extra: "    follower: {ports: \(base)-\(base + 3)}")
                .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            for image in ["pg15-patched", "pg15"] {
                let run = try await CLI.run(
                    ["run", "--config", scenario.configPath, "--database", "orders", "--image", image, "--now"],
                    environment: scenario.environment)
                #expect(run.status == 0, "\(image): \(run.stderr)")
            }
            let ports = try store.changeovers().reversed().map { $0.facts["follower.port"] }
            #expect(ports == [String(base), String(base + 1)], "\(ports)")

            try scenario.configText(followerPort: base + 1).write(
                toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let refused = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(
                refused.status == 2 && refused.stderr.contains("follower: {ports: \(base + 1)-\(base + 8)}"),
                "\(refused.stderr)")
            #expect(try store.changeovers().count == 2, "the refused run recorded a changeover")
        }
    }

    /// `windows` marks the opening that is open now and lists one-off windows apart; a database
    /// with one-off windows only has openings too. A secret file its group can read is named so.
    @Test func windowsMarkWhatIsOpenAndListOneOffsApart() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "first-operator-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let soon = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3 * 86_400))
        let config = "\(directory)/fleet.yaml"
        try """
        stateDirectory: \(directory)/state
        provisioner: {kind: local, root: \(directory)/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=1 user=postgres"
            password: {file: \(directory)/group.pw}
            windows: ["mon:00:00-sun:23:59"]
            oneOffWindows: ["\(soon) for 2h"]
          billing:
            image: pg15
            primary: "host=127.0.0.1 port=1 user=postgres"
            oneOffWindows: ["\(soon) for 2h"]
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let orders = try await CLI.run(["windows", "--config", config, "--database", "orders", "--count", "2"])
        #expect(orders.status == 0, "\(orders.stderr)")
        let lines = orders.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 5 && lines[0].hasSuffix("; 1 one-off window(s)"), "\(orders.stdout)")
        #expect(lines[1].contains("[OPEN NOW") && !lines[2].contains("OPEN NOW"), "\(orders.stdout)")
        #expect(lines[1...2].contains { $0.contains("includes a one-off") }, "\(orders.stdout)")
        #expect(
            lines[3] == "one-off windows (as agreed, before freezes):" && lines[4].contains("→"), "\(orders.stdout)")
        let billing = try await CLI.run(["windows", "--config", config, "--database", "billing"])
        #expect(
            billing.status == 0 && billing.stdout.contains("no weekly window") && billing.stdout.contains("[one-off]"),
            "\(billing.stdout)\(billing.stderr)")

        FileManager.default.createFile(
            atPath: "\(directory)/group.pw", contents: Data("secret\n".utf8), attributes: [.posixPermissions: 0o640])
        let plan = try await CLI.run(["plan", "--config", config, "--database", "orders", "--image", "pg15-patched"])
        #expect(
            plan.status == 2 && plan.stderr.contains("is readable by its group (mode 640); make it 0600"),
            "\(plan.stderr)")
    }

    /// Usage errors exit 2 as the README and `--help` say, one line naming the problem first.
    @Test(arguments: [
        ["status", "--no-such-option"],
        ["plan", "--database", "orders"],
        ["windows", "--config", "/nonexistent.yaml", "--database", "orders", "--count", "0"],
        ["frobnicate"],
    ])
    func usageErrorsExit2(_ arguments: [String]) async throws {
        let result = try await CLI.run(arguments)
        #expect(result.status == 2, "\(arguments): exit \(result.status): \(result.stderr)")
        #expect(result.stderr.hasPrefix("Error: "), "\(result.stderr)")
        let help = try await CLI.run(["--help"])
        #expect(help.status == 0 && help.stdout.contains("2 bad input"))
    }

    /// `plan` names the image's version as `postgres --version` gives it, and describes a Redis
    /// changeover in Redis's words; a failed preflight says "preflight failed" once.
    @Test func planAndRunSpeakEachEnginesWords() async throws {
        try await withScenario(engine: .redis, changeovers: 1, startWriter: false) { scenario in
            let plan = try await CLI.run(
                ["plan", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched"],
                environment: scenario.environment)
            #expect(plan.status == 0, "\(plan.stderr)")
            #expect(!plan.stdout.contains("replication slot") && !plan.stdout.contains("base-backup"), "\(plan.stdout)")
            #expect(plan.stdout.contains("REPLICAOF"), "\(plan.stdout)")
        }
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let plan = try await CLI.run(
                ["plan", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(plan.status == 0, "\(plan.stderr)")
            let line = try #require(
                plan.stdout.split(separator: "\n").first { $0.contains("image pg15-patched") }, "\(plan.stdout)")
            #expect(line.range(of: #"PostgreSQL \d+\.\d+$"#, options: .regularExpression) != nil, "\(line)")
            // A follower port another server holds fails preflight, and says so once.
            let squatter = try await scenario.lab.startRedisPrimary(name: "squatter")
            try scenario.configText(followerPort: squatter.port).write(
                toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let run = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(run.status == 3, "\(run.stderr)")
            #expect(run.stderr.components(separatedBy: "preflight failed").count == 2, "\(run.stderr)")
        }
    }
}
