import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

/// The exec provisioner with the tests' script (`Resources/exec-provisioner.py`), which keeps
/// its servers as local processes under the lab: the same changeovers as through the local
/// provisioner, under a writer, with 0 lost acknowledged writes.
@Suite(.serialized) struct ExecProvisionerTests {
    /// There and back through the script: every acknowledged commit is on each new primary, the
    /// old primary stopped cleanly (fenced by the script's `stop`), its slot is gone (`drop-slot`),
    /// the follower is in the script's directory, the audit log carries the script's image facts
    /// and verifies, and no password reached the audit log.
    @Test func postgresChangeoversThroughTheExecProvisionerLoseNoAcknowledgedWrite() async throws {
        try await withScenario(changeovers: 2) { scenario in
            let exec = ExecScript(scenario)
            var previousData = scenario.primary.dataDirectory
            for index in 0..<2 {
                let summary = try await scenario.changeover(
                    configText: exec.configText(followerPort: scenario.followerPorts[index]))
                try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                try await scenario.writer.waitForAcknowledgements(100)
                let acknowledged = await scenario.writer.acknowledgedSoFar()
                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[index])
                let missing = try await scenario.missing(acknowledged, port: newPrimary.port)
                #expect(missing.isEmpty, "changeover \(index + 1) lost \(missing.count) acknowledged commits")

                let old = LocalPostgres(binDirectory: scenario.lab.binDirectory, dataDirectory: previousData)
                #expect(!old.isRunning, "the old primary of changeover \(index + 1) is still running")
                #expect(
                    !FileManager.default.fileExists(
                        atPath: "\(previousData)/pg_replslot/\(summary.facts["slot"] ?? "?")"))
                let data = try #require(summary.facts["follower.dataDirectory"])
                #expect(data == "\(exec.root)/\(summary.id)/data")
                previousData = data

                let record = try exec.provisionRecord(summary.id)
                let (from, to) =
                    index == 0 ? ("postgres:15", "postgres:15-patched") : ("postgres:15-patched", "postgres:15")
                #expect(record.facts["image.from.tag"] == from && record.facts["image.to.tag"] == to)
                #expect(record.facts["image.to.libc6"].map { !$0.isEmpty && $0 != "unknown" } == true)
                #expect(record.facts["image.to.version"]?.hasPrefix("15.") == true)
                #expect(
                    record.facts["image.from.id"] != nil && record.facts["image.from.id"] != record.facts["image.to.id"]
                )
                #expect(AuditLog.verify(path: exec.auditPath).isIntact)
                print(
                    "exec changeover \(index + 1): \(from) → \(to) (libc6 \(record.facts["image.to.libc6"] ?? "?")), write pause \(summary.facts["writePause.ms"] ?? "?") ms (stop \(summary.facts["stop.ms"] ?? "?"), promote \(summary.facts["promote.ms"] ?? "?") ms)"
                )
            }
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.followerPorts[1]).isEmpty)
            #expect(report.acknowledged.count > 200)
            try exec.expectNoSecrets(in: exec.auditPath)
            let calls = exec.calls
            for operation in [
                "describe-image", "check", "status old-primary", "describe", "create", "stop old-primary",
                "drop-slot old-primary",
            ] {
                #expect(calls.contains(operation), "the script was never asked to \(operation)")
            }
            #expect(
                !calls.contains("controldata old-primary"),
                "the fence ran the script twice: stop brings the control data")
            print(
                "two exec changeovers: \(report.acknowledged.count) acknowledged commits, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
        }
    }

    /// Redis there and back through the script, the old primary retired at once (`retire`): the
    /// script removes the node it made for the first changeover when the second retires it.
    @Test func redisChangeoversThroughTheExecProvisionerLoseNoAcknowledgedWrite() async throws {
        try await withScenario(engine: .redis, changeovers: 2) { scenario in
            let exec = ExecScript(scenario)
            var previousPort = scenario.primary.port
            var ids: [String] = []
            for index in 0..<2 {
                let summary = try await scenario.changeover(
                    configText: exec.configText(followerPort: scenario.followerPorts[index]))
                try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                ids.append(summary.id)
                try await scenario.writer.waitForAcknowledgements(200)
                let acknowledged = await scenario.writer.acknowledgedSoFar()
                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[index])
                #expect(
                    try await scenario.missing(acknowledged, port: newPrimary.port).isEmpty,
                    "changeover \(index + 1) lost acknowledged writes")
                #expect(!FreePort.accepts(previousPort), "the old primary on port \(previousPort) was not retired")
                #expect(summary.facts["follower.node"] == "\(exec.root)/\(summary.id)")
                let record = try exec.provisionRecord(summary.id)
                #expect(record.facts["image.to.tag"] == (index == 0 ? "redis:7-patched" : "redis:7"))
                #expect(record.facts["image.to.version"]?.hasPrefix("7.") == true)
                #expect(AuditLog.verify(path: exec.auditPath).isIntact)
                previousPort = newPrimary.port
            }
            #expect(
                !FileManager.default.fileExists(atPath: "\(exec.root)/\(ids[0])"),
                "the retired node of the first changeover is still there")
            #expect(FileManager.default.fileExists(atPath: "\(exec.root)/\(ids[1])/redis.conf"))
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.followerPorts[1]).isEmpty)
            #expect(report.acknowledged.count > 400)
            try exec.expectNoSecrets(in: exec.auditPath)
            #expect(exec.calls.contains("retire old-primary"))
            print("two exec Redis changeovers: \(report.acknowledged.count) acknowledged writes, 0 lost")
        }
    }

    /// A catch-up that cannot succeed in time aborts: the script's `destroy` removes the
    /// follower and its directory, the slot is dropped, the primary serves and lost nothing.
    @Test func catchUpTimeoutDestroysTheFollower() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let exec = ExecScript(scenario)
            try exec.configText(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 10s\n      pollEvery: 50ms\n      timeout: 1500ms"
            )
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains("catch-up failed: the follower did not catch up within 1.5 s"),
                "\(result.stderr)")
            #expect(exec.calls.contains("create") && exec.calls.contains("destroy"))
            #expect(exec.nodes.isEmpty, "follower left behind: \(exec.nodes)")
            #expect(!FreePort.accepts(scenario.followerPorts[0]), "the follower still listens")
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
            let records = try AuditLog.read(path: exec.auditPath)
            #expect(records.last?.step == "changeover" && records.last?.outcome == "aborted")
            #expect(AuditLog.verify(path: exec.auditPath).isIntact)
        }
    }

    /// A script whose `create` exits 1 (and echoes the password it was given on stderr): one
    /// line naming the operation with the script's last stderr line, the password masked; the
    /// changeover is rolled back through `destroy` and nothing is left.
    @Test func aFailingScriptGivesOneLineNamingTheOperation() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let exec = ExecScript(scenario)
            try exec.configText(followerPort: scenario.followerPorts[0], failing: "create")
                .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(
                result.stderr.contains(
                    "exec provisioner: create failed (exec-provisioner.py exit status 1): create refused by the test (password [redacted])"
                ),
                "\(result.stderr)")
            for secret in [scenario.lab.replicationPassword, scenario.lab.superuserPassword] {
                #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
            }
            try exec.expectNoSecrets(in: exec.auditPath)
            #expect(exec.calls.contains("destroy"))
            #expect(exec.nodes.isEmpty, "left behind: \(exec.nodes)")
            let connection = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
        }
    }

    /// A config whose exec provisioner has no command, or a command that is not an executable
    /// file: one line, exit status 2, the script is never run and nothing is touched.
    @Test(arguments: ["missing", "not executable", "no such file"])
    func badExecConfigGetsOneLineAndTouchesNothing(_ problem: String) async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let exec = ExecScript(scenario)
            var config = exec.configText(followerPort: scenario.followerPorts[0])
            let expected: String
            switch problem {
            case "missing":
                config = config.replacingOccurrences(
                    of: "  command: [\(ExecScript.script), --root, \(exec.root)]\n", with: "")
                expected = "the exec provisioner needs provisioner.command"
            case "not executable":
                let plain = "\(scenario.lab.root)/provisioner.py"
                try FileManager.default.copyItem(atPath: ExecScript.script, toPath: plain)
                chmod(plain, 0o644)
                config = config.replacingOccurrences(of: "[\(ExecScript.script),", with: "[\(plain),")
                expected = "provisioner.command \(plain) is not an executable file"
            default:
                config = config.replacingOccurrences(of: "[\(ExecScript.script),", with: "[provisioners/nothing-here,")
                expected = "provisioner.command \(scenario.lab.root)/provisioners/nothing-here does not exist"
            }
            try config.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(result.status == 2, "\(problem): exit \(result.status), stderr: \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(result.stderr)")
            #expect(result.stderr.contains(expected), "\(problem): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: exec.root), "the script ran")
            #expect(!FileManager.default.fileExists(atPath: "\(scenario.lab.root)/state/databases/orders.json"))
            let connection = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
        }
    }

    /// A controller killed right after `create` returned (before the follower was recorded):
    /// `resume` finds the follower through `describe` and adopts it instead of making another,
    /// and finishes with 0 lost acknowledged writes.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aResumedChangeoverAdoptsTheFollowerDescribeFinds(_ engine: DatabaseConfig.EngineKind) async throws {
        try await withScenario(engine: engine, changeovers: 1) { scenario in
            let exec = ExecScript(scenario)
            try exec.configText(followerPort: scenario.followerPorts[0]).write(
                toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let killed = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", scenario.images[1],
                    "--now",
                ],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-after:provision"]) { _, new in new
                })
            #expect(
                killed.status == 128 + SIGKILL,
                "the controller was not killed (exit \(killed.status)): \(killed.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, id], environment: scenario.environment)
            #expect(resumed.status == 0, "resume exited \(resumed.status): \(resumed.stderr)")
            #expect(try store.changeover(id)?.machine.step == .done)
            #expect(exec.calls.filter { $0 == "create" }.count == 1, "calls: \(exec.calls)")
            #expect(exec.nodes == [id])
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(try scenario.currentPrimaryPort() == scenario.followerPorts[0])
            #expect(AuditLog.verify(path: exec.auditPath).isIntact)
        }
    }

    /// A controller killed just after the fence, then `abort`: the follower goes (`destroy`) and
    /// the script's `start` brings the fenced primary back as it last ran; nothing acknowledged is lost.
    @Test func abortAfterTheFenceRestartsTheOldPrimaryThroughStart() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let exec = ExecScript(scenario)
            try exec.configText(followerPort: scenario.followerPorts[0]).write(
                toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment.merging(["CHANGEOVER_FAULT": "kill-after:fence"]) { _, new in new })
            #expect(
                killed.status == 128 + SIGKILL,
                "the controller was not killed (exit \(killed.status)): \(killed.stderr)")
            let old = LocalPostgres(
                binDirectory: scenario.lab.binDirectory, dataDirectory: scenario.primary.dataDirectory)
            #expect(!old.isRunning, "the fence did not stop the primary")
            let id = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id)
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            #expect(old.isRunning, "the old primary was not started again")
            #expect(exec.calls.contains("destroy") && exec.calls.contains("start old-primary"), "calls: \(exec.calls)")
            #expect(exec.nodes.isEmpty, "left behind: \(exec.nodes)")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            let records = try AuditLog.read(path: exec.auditPath)
            #expect(records.last?.outcome == "aborted")
            #expect(records.last { $0.step == "rollback" }?.facts["old.restarted"] == "true")
            #expect(AuditLog.verify(path: exec.auditPath).isIntact)
        }
    }

    /// A command that outlives its timeout is killed with its whole process group (a child it
    /// started without a session of its own too), and the error says which operation.
    @Test func aHungCommandIsKilledWithItsProcessGroup() async throws {
        let directory = NSTemporaryDirectory() + "exec-hang-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let script = "\(directory)/hang.sh"
        try "#!/bin/sh\nsleep 300 &\necho $! > \(directory)/child.pid\nsleep 300\n"
            .write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let command = ExecCommand(argv: [script], timeout: .seconds(1))
        let error = await #expect(throws: ProvisionError.self) { _ = try await command.call("describe", [:]) }
        #expect(
            error?.description
                == "exec provisioner: describe did not finish within 1.0 s; hang.sh and its process group were killed")
        let child = try #require(
            pid_t(
                (try String(contentsOfFile: "\(directory)/child.pid", encoding: .utf8))
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while Subprocess.isAlive(child) && clock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!Subprocess.isAlive(child), "the command's child \(child) survived its timeout")
    }
}

/// The tests' exec provisioner script, set up for a scenario: its servers live under `root`.
struct ExecScript {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Resources/exec-provisioner.py").path
    let scenario: LabScenario
    var root: String { "\(scenario.lab.root)/exec" }
    var auditPath: String { "\(scenario.lab.root)/state/audit.jsonl" }

    init(_ scenario: LabScenario) { self.scenario = scenario }

    /// The scenario's config with the exec provisioner in place of the local one and a tag label
    /// on each image (what the script gives as the image's `tag` fact). With `failing`, the
    /// script fails that operation.
    func configText(followerPort: Int?, catchUp: String? = nil, failing: String? = nil) -> String {
        let bin = scenario.lab.binDirectory
        let redisBin = Lab.redisBinDirectory
        return scenario.configText(followerPort: followerPort, catchUp: catchUp)
            .replacingOccurrences(
                of: "  kind: local\n  root: \(scenario.lab.root)/nodes\n",
                with: """
                      kind: exec
                      command: [\(Self.script), --root, \(root)\(failing.map { ", --fail, \($0)" } ?? "")]
                      timeout: 2m

                    """
            )
            .replacingOccurrences(
                of: "  pg15:\n    binDirectory: \(bin)\n",
                with: "  pg15:\n    binDirectory: \(bin)\n    labels: {tag: \"postgres:15\"}\n"
            )
            .replacingOccurrences(
                of: "  pg15-patched:\n    binDirectory: \(bin)\n",
                with: "  pg15-patched:\n    binDirectory: \(bin)\n    labels: {tag: \"postgres:15-patched\"}\n"
            )
            .replacingOccurrences(
                of: "  redis7:\n    binDirectory: \(redisBin)\n",
                with: "  redis7:\n    binDirectory: \(redisBin)\n    labels: {tag: \"redis:7\"}\n"
            )
            .replacingOccurrences(
                of: "  redis7-patched:\n    binDirectory: \(redisBin)\n",
                with: "  redis7-patched:\n    binDirectory: \(redisBin)\n    labels: {tag: \"redis:7-patched\"}\n")
    }

    /// The operations the script was asked for ("create", "stop old-primary"), in order.
    var calls: [String] {
        ((try? String(contentsOfFile: "\(root)/calls.log", encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
    }

    /// The follower directories the script has (its own bookkeeping aside).
    var nodes: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter {
            $0 != "calls.log" && $0 != "pids"
        }
    }

    func provisionRecord(_ changeover: String) throws -> AuditRecord {
        try #require(
            try AuditLog.read(path: auditPath).first {
                $0.changeover == changeover && $0.step == "provision" && $0.outcome == "succeeded"
            })
    }

    func expectNoSecrets(in path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.isEmpty)
        for secret in [scenario.lab.replicationPassword, scenario.lab.superuserPassword] {
            #expect(!text.contains(secret), "a password is in \(path)")
        }
    }
}
