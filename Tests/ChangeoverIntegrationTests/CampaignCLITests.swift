import ChangeoverCore
import Foundation
import Testing

/// `changeover campaign plan` from the real executable, over a config of twelve databases in
/// three tiers (no server runs: a plan touches nothing).
@Suite struct CampaignCLITests {
    static func fleet(in directory: String) throws -> String {
        var databases = ""
        func add(
            _ name: String, tier: String?, image: String = "pg15", windows: String = "[\"Sundays 22:00 Europe/Berlin\"]"
        ) {
            databases += """
                  \(name):
                    image: \(image)
                    primary: "host=127.0.0.1 port=5432 user=postgres"
                    windows: \(windows)
                \(tier.map { "    labels: {tier: \($0)}\n" } ?? "")
                """
        }
        add("stage-a", tier: "staging", windows: "[\"Mondays 09:00 UTC\"]")
        add("stage-b", tier: "staging")
        for n in 1...8 { add("prod-\(n)", tier: "production") }
        add("prod-done", tier: "production", image: "pg15-patched")
        add("lab-1", tier: "lab")
        let path = "\(directory)/fleet.yaml"
        try """
        stateDirectory: \(directory)/state
        auditLog: \(directory)/audit.jsonl
        provisioner: {kind: local, root: \(directory)/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
        \(databases)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func planPrintsTheWavesAndWhatIsLeftOutAndTouchesNothing() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        let plan = try await CLI.run([
            "campaign", "plan", "--config", config, "--image", "pg15-patched", "--from", "pg15",
            "--waves", "staging,canary:25%,production", "--json",
        ])
        #expect(plan.status == 0, "\(plan.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any])
        let waves = try #require(json["waves"] as? [[String: Any]])
        #expect(waves.map { $0["wave"] as? String } == ["staging", "canary:25%", "production"])
        let members = waves.map { ($0["members"] as? [[String: Any]] ?? []).compactMap { $0["database"] as? String } }
        #expect(Set(members[0]) == ["stage-a", "stage-b"])
        #expect(members[1].count == 2 && members[1].allSatisfy { $0.hasPrefix("prod-") })
        #expect(members[2].count == 6 && Set(members[1]).isDisjoint(with: members[2]))
        // Every member has a window, and a wave lists its members in the order of their windows.
        for wave in waves {
            let starts = (wave["members"] as? [[String: Any]] ?? []).map { $0["windowStart"] as? String }
            #expect(!starts.contains(nil), "\(wave)")
            #expect(starts.compactMap { $0 } == starts.compactMap { $0 }.sorted(), "\(wave)")
        }
        let skipped = try #require(json["skipped"] as? [[String: String]])
        #expect(skipped.map { $0["database"] } == ["lab-1", "prod-done"])
        #expect(skipped.map { $0["reason"] } == ["tier lab is in no wave", "already on pg15-patched"])
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/state"), "a plan created the state directory")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/audit.jsonl"))

        let text = try await CLI.run([
            "campaign", "plan", "--config", config, "--image", "pg15-patched",
            "--waves", "staging,production",
        ])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(
            text.stdout.contains("campaign to pg15-patched: 10 database(s) in 2 wave(s), 2 left out"), "\(text.stdout)")
        #expect(text.stdout.contains("left out: prod-done: already on pg15-patched"))
    }

    @Test(arguments: [
        (["--waves", "staging,canary:5"], "not a percentage like 5%"),
        (["--waves", "staging,prod"], "wave prod names no tier of the inventory (tiers: lab, production, staging)"),
        (["--waves", "staging", "--image", "pg16"], "unknown image \"pg16\""),
        (["--waves", "staging", "--deadline", "someday"], "deadline"),
    ])
    func badInputGetsOneLineAndExitStatus2(arguments: [String], message: String) async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        var argv = ["campaign", "plan", "--config", config]
        if !arguments.contains("--image") { argv += ["--image", "pg15-patched"] }
        let run = try await CLI.run(argv + arguments)
        #expect(run.status == 2, "\(run.stdout) \(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.contains(message), "\(run.stderr)")
        #expect(run.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/state"))
    }

    /// The operator's verbs without a daemon: start records the campaign, status shows it,
    /// pause and resume are recorded for the daemon, abort cancels what it scheduled (nothing
    /// yet) and ends it; each writes an audit record.
    @Test func startStatusPauseResumeAndAbortFromTheCommandLine() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        let run = { (arguments: [String]) in try await CLI.run(["campaign"] + arguments + ["--config", config]) }
        let start = try await run([
            "start", "--image", "pg15-patched", "--waves", "staging,production", "--gate", "exit 0",
            "--max-parallel", "3", "--max-failures", "1",
        ])
        #expect(start.status == 0, "\(start.stderr)")
        let id = try #require(start.stdout.split(separator: " ").dropFirst().first.map(String.init))
        #expect(
            start.stdout.hasPrefix("campaign \(id) started: 10 database(s) to pg15-patched in 2 wave(s), 2 left out"),
            "\(start.stdout)")
        #expect(id.hasPrefix("campaign-"))

        let again = try await run(["start", "--image", "pg15-patched", "--waves", "production"])
        #expect(again.status == 2 && again.stderrLines.count == 1, "\(again.stderr)")
        #expect(
            again.stderr.contains(
                "campaign \(id) (to pg15-patched, running) already has prod-1, prod-2, prod-3, prod-4, prod-5 and 3 more"
            ), "\(again.stderr)")

        let status = try await run(["status", id])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("campaign \(id) to pg15-patched: running"), "\(status.stdout)")
        #expect(status.stdout.contains("progress: 0/10 changed over, 0 failed (halts above 1)"), "\(status.stdout)")
        #expect(status.stdout.contains("wave 1 staging: not begun: 2 to-schedule"), "\(status.stdout)")
        let list = try await run(["status"])
        #expect(
            list.stdout.hasPrefix("\(id)  to pg15-patched  running  0/10 done, 0 failed  wave staging"),
            "\(list.stdout)")
        let json = try await run(["status", id, "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(
            object["state"] as? String == "running" && object["total"] as? Int == 10 && object["eta"] is String,
            "\(json.stdout)")

        let pause = try await run(["pause", id])
        #expect(pause.status == 0 && pause.stdout.contains("paused (it was running)"), "\(pause.stdout)\(pause.stderr)")
        #expect(try await run(["status", id]).stdout.contains(": paused"))
        let resume = try await run(["resume", id])
        #expect(
            resume.status == 0 && resume.stdout.contains("resumed (it was paused)"), "\(resume.stdout)\(resume.stderr)")

        let refused = try await run(["abort", id])
        #expect(refused.status == 2 && refused.stderr.contains("needs --yes"), "\(refused.stderr)")
        let abort = try await run(["abort", id, "--yes"])
        #expect(abort.status == 0 && abort.stdout.contains("campaign \(id) aborted"), "\(abort.stdout)\(abort.stderr)")
        #expect(try await run(["status", id]).stdout.contains(": aborted"))
        let late = try await run(["resume", id])
        #expect(
            late.status == 2 && late.stderr.contains("campaign \(id) already aborted; there is nothing to resume"),
            "\(late.stderr)")

        let audit = try AuditLog.read(path: "\(directory)/audit.jsonl").filter { $0.changeover == id }.map(\.outcome)
        #expect(audit == ["started", "pause-requested", "resume-requested", "abort-requested", "aborted"], "\(audit)")
    }

    @Test(arguments: [
        (["--max-parallel", "0"], "--max-parallel must be at least 1, not 0"),
        (["--max-failures=-1"], "--max-failures must be 0 or more"),
        (["--gate", " "], "--gate is empty"),
        (["--gate-timeout", "soon"], "--gate-timeout"),
        (["--image", "pg15=pg15-patched,pg15=pg16"], "pg15 is given twice"),
        (["--image", "pg15=nope"], "unknown image \"nope\""),
        (["--image", "pg15-patched", "--waves", "lab", "--from", "pg14"], "unknown image \"pg14\""),
    ])
    func badStartsGetOneLineAndRecordNothing(arguments: [String], message: String) async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        var argv = ["campaign", "start", "--config", config]
        if !arguments.contains("--image") { argv += ["--image", "pg15-patched"] }
        if !arguments.contains("--waves") { argv += ["--waves", "staging,production"] }
        let run = try await CLI.run(argv + arguments)
        #expect(run.status == 2, "\(run.stdout) \(run.stderr)")
        #expect(run.stderrLines.count == 1 && run.stderr.contains(message), "\(run.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/state"), "a refused start wrote state")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/audit.jsonl"))
    }

    @Test func unknownCampaignsAreNamed() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        for verb in ["status", "pause", "resume"] {
            let run = try await CLI.run(["campaign", verb, "campaign-nope", "--config", config])
            #expect(
                run.status == 2 && run.stderr.contains("no campaign campaign-nope in the state store"),
                "\(verb): \(run.stderr)")
        }
    }
}
