import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `run --in-window`, deadlines, `prepare`/`switch` and abort while waiting, in the foreground.
@Suite(.serialized) struct SchedulingCLITests {
    func writeConfig(_ scenario: LabScenario, orders: String, minimumLead: String = "1h") throws {
        try scenario.configText(
            followerPort: scenario.followerPorts[0],
            extra: """
                \(orders)
                scheduling: {switchoverEstimate: 2s, margin: 1s, minimumLead: \(minimumLead), recheckEvery: 1s}
                """
        ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
    }

    func records(_ scenario: LabScenario) throws -> [AuditRecord] {
        try AuditLog.read(path: try scenario.config().auditLog)
    }

    /// Inside a window that is already open, `run --in-window` starts at once and completes.
    @Test func runInWindowInsideAnOpenWindowStartsAtOnce() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try writeConfig(scenario, orders: "    oneOffWindows: [\"\(iso(wholeSecond(in: -5))) for 10m\"]")
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window",
                ],
                environment: scenario.environment, timeout: .seconds(120))
            #expect(run.status == 0, "\(run.stderr)")
            #expect(try records(scenario).contains { $0.step == "await-window" && $0.outcome == "open" })
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    @Test func runInWindowFencesOnlyOnceTheWindowIsOpen() async throws {
        try await withScenario(changeovers: 1) { scenario in
            // Far enough ahead that provisioning and catch-up end before it even on a loaded machine.
            let windowStart = wholeSecond(in: 20)
            try writeConfig(scenario, orders: "    oneOffWindows: [\"\(iso(windowStart)) for 60s\"]")
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window",
                ],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(run.stdout.contains("in the maintenance window"), "\(run.stdout)")
            let audit = try records(scenario)
            let fence = try #require(audit.first { $0.step == "fence" && $0.outcome == "started" })
            #expect(fence.time >= windowStart)
            // It waited, unless catch-up itself outlasted the 20 s (a starved machine).
            let awaited = try #require(audit.first { $0.step == "await-window" && $0.outcome == "started" })
            if awaited.time < windowStart.addingTimeInterval(-1) {
                #expect(run.stdout.contains("opens in"), "\(run.stdout)")
                #expect(audit.contains { $0.step == "await-window" && $0.outcome == "waiting" })
            }
            #expect(audit.contains { $0.step == "await-window" && $0.outcome == "open" })
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    @Test func aDeadlineForcesTheSwitchoverAndTheAuditSaysWhy() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try writeConfig(scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]")
            let deadline = wholeSecond(in: 20)
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window", "--deadline", iso(deadline),
                ], environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            let audit = try records(scenario)
            let forced = try #require(audit.first { $0.step == "await-window" && $0.outcome == "forced" })
            #expect(
                forced.message
                    == "the deadline \(iso(deadline)) has come and no maintenance window with room for the switchover opened before it"
            )
            // It waited for the deadline, unless catch-up itself outlasted the 20 s (a starved machine).
            let awaited = try #require(audit.first { $0.step == "await-window" && $0.outcome == "started" })
            if awaited.time < deadline.addingTimeInterval(-1) {
                #expect(
                    audit.contains {
                        $0.step == "await-window" && $0.outcome == "waiting"
                            && $0.message?.contains("will be forced then") == true
                    })
            }
            let fence = try #require(audit.first { $0.step == "fence" && $0.outcome == "started" })
            #expect(fence.time >= deadline)
            let record = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first)
            #expect(record.facts["window.decision"] == "forced" && record.machine.step == .done)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// prepare builds and catches up the follower and stops; status says prepared; switch --now
    /// checks the catch-up again and cuts over.
    @Test func prepareThenSwitchNow() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try writeConfig(scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]")
            let prepared = try await CLI.run(
                ["prepare", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(prepared.status == 0, "\(prepared.stderr)")
            #expect(prepared.stdout.contains(": prepared"), "\(prepared.stdout)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let record = try #require(try store.changeovers().first)
            #expect(record.machine.step == .awaitWindow && record.stopped?.kind == .prepared)
            let status = try await CLI.run(["status", "--config", scenario.configPath, record.id])
            #expect(status.stdout.contains("state    prepared"), "\(status.stdout)")
            // The hints run as they are printed: `switch` (with --now, as the hint says) and `abort … --yes`.
            let hints = CLI.hints(in: status.stdout)
            #expect(hints.map(\.first) == ["switch", "abort"], "\(status.stdout)")
            #expect(
                hints.allSatisfy { $0.contains(record.id) && $0.contains(scenario.configPath) }
                    && hints.last?.contains("--yes") == true,
                "\(hints)")
            #expect(try AuditLog.read(path: try scenario.config().auditLog).last?.outcome == "prepared")
            try await scenario.writer.waitForAcknowledgements(50)

            let switched = try await CLI.run(try #require(hints.first) + ["--now"], environment: scenario.environment)
            #expect(switched.status == 0, "\(switched.stderr)")
            let final = try #require(try store.changeover(record.id))
            #expect(final.machine.step == .done && final.stopped == nil && final.policy == .now)
            let audit = try records(scenario)
            #expect(audit.contains { $0.changeover == record.id && $0.outcome == "switch-requested" })
            // The catch-up was checked again before the fence: the await-window step held the lag for holdFor (300 ms).
            let resumedAt = try #require(audit.lastIndex { $0.outcome == "switch-requested" })
            let waited = try #require(
                audit[resumedAt...].first { $0.step == "await-window" && $0.outcome == "succeeded" })
            #expect(Double(waited.facts["ms"] ?? "") ?? 0 >= 300, "\(waited.facts)")
            #expect(waited.facts["window.decision"] == "now")
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// SIGTERM to a foreground `run --in-window` waiting for its window: exit 8, the changeover
    /// stopped in await-window with its follower kept; `switch --now` finishes it.
    @Test func sigtermWhileWaitingInTheForegroundStopsResumably() async throws {
        try await withScenario(changeovers: 1) { scenario in
            // A lead longer than the wait: the follower is made at once and waits for a window days away.
            try writeConfig(scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]", minimumLead: "120h")
            let log = "\(scenario.lab.root)/run.log"
            let pid = try Subprocess.spawn(
                [
                    CLI.executable, "run", "--config", scenario.configPath, "--database", "orders",
                    "--image", "pg15-patched", "--in-window",
                ], environment: scenario.environment, outputPath: log)
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let waiting = try await eventually {
                guard let record = try store.changeovers().first else { return false }
                return record.machine.step == .awaitWindow && store.lockHolder(database: "orders") != nil
                    && store.progress(of: record.id) != nil
            }
            #expect(waiting, "\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
            kill(pid, SIGTERM)
            var status: Int32?
            #expect(
                try await eventually(.seconds(15)) {
                    status = Subprocess.reap(pid)
                    return status != nil
                })
            if status == nil {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { usleep(1000) }
            }
            let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            #expect(status == 8, "\(output)")
            #expect(output.contains("stopped in await-window: SIGTERM received"), "\(output)")
            let record = try #require(try store.changeovers().first)
            #expect(
                record.machine.step == .awaitWindow && record.stopped?.kind == .stopped
                    && record.stopped?.daemon == false)
            let shown = try await CLI.run(["status", "--config", scenario.configPath, record.id])
            #expect(shown.stdout.contains("state    stopped"), "\(shown.stdout)")
            let switched = try await CLI.run(
                ["switch", "--config", scenario.configPath, record.id, "--now"], environment: scenario.environment)
            #expect(switched.status == 0, "\(switched.stderr)")
            #expect(try store.changeover(record.id)?.machine.step == .done)
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// Aborting a changeover that waits for its window rolls back like one in catch-up.
    @Test func abortWhileWaitingForTheWindowRollsBack() async throws {
        try await withScenario(changeovers: 1) { scenario in
            try writeConfig(scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]")
            let prepared = try await CLI.run(
                ["prepare", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(prepared.status == 0, "\(prepared.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            let final = try #require(try store.changeover(id))
            #expect(final.machine.step == .aborted && final.machine.failedStep == .awaitWindow)
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }

    @Test func schedulingRefusesWhatCanNeverRun() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            try writeConfig(scenario, orders: "")
            let never = try await CLI.run([
                "schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
            ])
            #expect(never.status == 2 && never.stderr.contains("has no maintenance windows"), "\(never.stderr)")
            let same = try await CLI.run([
                "schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15", "--deadline",
                "2030-01-01T00:00:00Z",
            ])
            #expect(same.status == 2 && same.stderr.contains("already runs pg15"), "\(same.stderr)")
            let both = try await CLI.run([
                "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now",
                "--in-window",
            ])
            #expect(both.status != 0 && both.stderr.contains("--now"), "\(both.stderr)")
            let once = try await CLI.run([
                "schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                "--deadline", "2030-01-01T00:00:00Z",
            ])
            #expect(once.status == 0, "\(once.stderr)")
            let twice = try await CLI.run([
                "schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                "--deadline", "2030-01-01T00:00:00Z",
            ])
            #expect(twice.status == 2 && twice.stderr.contains("already has changeover"), "\(twice.stderr)")
        }
    }
}
