import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// The scheduler daemon against real servers, run as the built executable.
@Suite(.serialized) struct DaemonTests {
    /// The test config: the scenario's database (`orders`, a writer on it) plus what the test adds.
    func config(_ scenario: LabScenario, catchUp: String? = nil, ordersExtra: String, extra: String, daemonPort: Int)
        -> String
    {
        scenario.configText(
            followerPort: scenario.followerPorts[0], catchUp: catchUp,
            extra: """
                \(ordersExtra)
                \(extra)
                scheduling: {switchoverEstimate: 5s, margin: 2s, minimumLead: 1h, recheckEvery: 2s}
                daemon: {listen: "127.0.0.1:\(daemonPort)", tokenEnv: TEST_DAEMON_TOKEN, concurrency: 2, tick: 200ms}
                """)
    }

    /// Must-show 2: a window opening a few seconds ahead. The daemon provisions the follower and
    /// lets it catch up before the window, does not fence before the window opens, switches
    /// inside it and audits all of it. A second database whose only near window is too short for
    /// the estimated switchover is moved to its next window: not provisioned, status and audit
    /// say why. The HTTP endpoints refuse requests without the token.
    @Test func daemonSwitchesInsideTheWindowAndMovesATooShortOne() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let billing = try await scenario.lab.startPrimary(name: "billing")
            let port = FreePort.next()
            // Far enough ahead that provisioning and catch-up end before it on a loaded machine too.
            let windowStart = wholeSecond(in: 25)
            let windowEnd = windowStart.addingTimeInterval(60)
            let shortStart = wholeSecond(in: 8)
            let text = config(
                scenario, ordersExtra: "    oneOffWindows: [\"\(iso(windowStart)) for 60s\"]",
                extra: """
                      billing:
                        engine: postgres
                        image: pg15
                        primary: "host=127.0.0.1 port=\(billing.port) user=postgres dbname=postgres"
                        password: {env: LAB_PG_PASSWORD}
                        replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                        windows: ["\(weeklyWindowDaysAway())"]
                        oneOffWindows: ["\(iso(shortStart)) for 3s"]
                    schedule:
                      - {database: orders, image: pg15-patched}
                      - {database: billing, image: pg15-patched}
                    """, daemonPort: port)
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon.log")
            defer { daemon.kill9() }
            let store = StateStore(directory: "\(scenario.lab.root)/state")

            // Provisioned and caught up before the window: waiting in await-window while it is closed.
            #expect(
                try await eventually {
                    try store.changeovers().first { $0.database == "orders" }?.machine.step == .awaitWindow
                },
                "orders never reached await-window: \(daemon.output)")
            #expect(Date() < windowStart, "the follower was not ready before the window opened")
            var ordersEntry: [String: Any] = [:]
            #expect(
                try await eventually(.seconds(5)) {
                    let entries = try await daemon.status()["changeovers"] as? [[String: Any]] ?? []
                    ordersEntry =
                        entries.first { (($0["record"] as? [String: Any])?["database"] as? String) == "orders" } ?? [:]
                    return (ordersEntry["waitingFor"] as? String)?.contains("opens in") == true
                }, "status does not say what orders waits for: \(ordersEntry)")
            #expect(ordersEntry["state"] as? String == "running")
            // While it waits there, the metric an operator watches says when its window opens.
            let orderID = try #require(try store.changeovers().first { $0.database == "orders" }?.id)
            let waiting = try await LabHTTP.get(port: port, path: "/metrics", token: daemon.token).body
            #expect(
                waiting.contains(
                    "changeover_next_window_timestamp_seconds{database=\"orders\"} \(Int(windowStart.timeIntervalSince1970))"
                ),
                "\(waiting)")
            // `status` says a daemon runs, and when it last ticked.
            let listed = try await CLI.run(["status", "--config", scenario.configPath])
            #expect(listed.stdout.contains("daemon: running (pid \(daemon.pid) on "), "\(listed.stdout)")
            // A header row, and where each database's primary is now.
            let rows = listed.stdout.split(separator: "\n").map {
                $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
            }
            #expect(rows.first == "ID STATE STEP PRIMARY NOW IMAGES", "\(listed.stdout)")
            #expect(
                rows.contains { $0.hasPrefix("\(orderID) running await-window 127.0.0.1:\(scenario.primary.port) ") },
                "\(listed.stdout)")

            // Switched inside the window.
            #expect(
                try await eventually(.seconds(40)) {
                    try store.changeovers().first { $0.database == "orders" }?.machine.step == .done
                },
                "orders did not complete: \(daemon.output)")
            let orders = try #require(try store.changeovers().first { $0.database == "orders" })
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            let ofOrders = records.filter { $0.changeover == orders.id }
            let provisioned = try #require(ofOrders.first { $0.step == "provision" && $0.outcome == "succeeded" })
            let caughtUp = try #require(ofOrders.first { $0.step == "catch-up" && $0.outcome == "succeeded" })
            let fence = try #require(ofOrders.first { $0.step == "fence" && $0.outcome == "started" })
            #expect(provisioned.time < windowStart && caughtUp.time < windowStart)
            #expect(fence.time >= windowStart, "fenced at \(fence.time), before the window opened at \(windowStart)")
            #expect(fence.time < windowEnd)
            #expect(ofOrders.contains { $0.step == "schedule" && $0.outcome == "recorded" })
            #expect(
                ofOrders.contains {
                    $0.step == "await-window" && $0.outcome == "waiting" && $0.message?.contains("opens in") == true
                })
            #expect(ofOrders.contains { $0.step == "await-window" && $0.outcome == "open" })
            #expect(ofOrders.last?.outcome == "completed")
            #expect(orders.facts["window.decision"] == "open")

            // The too-short window: billing is moved to its weekly window, nothing was made for it.
            let billingRecord = try #require(try store.changeovers().first { $0.database == "billing" })
            #expect(billingRecord.machine.step == .pending)
            let moved = records.first {
                $0.changeover == billingRecord.id && $0.step == "schedule" && $0.outcome == "moved"
            }
            #expect(
                moved?.message?.contains("lasts 3 s, too short for the switchover (5 s + 2 s margin)") == true,
                "\(moved?.message ?? "no record")")
            #expect(moved?.message?.contains("moved to the next window that fits") == true)
            let status = try await daemon.status()
            let billingEntry = try #require(
                (status["changeovers"] as? [[String: Any]])?.first {
                    (($0["record"] as? [String: Any])?["database"] as? String) == "billing"
                })
            #expect(billingEntry["state"] as? String == "scheduled")
            #expect((billingEntry["waitingFor"] as? String)?.contains("too short") == true, "\(billingEntry)")
            let nodes = try FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")
            #expect(nodes == [orders.id])

            // The endpoints: the token or nothing.
            #expect(try await LabHTTP.get(port: port, path: "/status").status == 401)
            #expect(try await LabHTTP.get(port: port, path: "/metrics", token: "wrong").status == 401)
            let metrics = try await LabHTTP.get(port: port, path: "/metrics", token: daemon.token)
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(metrics.body.contains("changeover_changeovers{step=\"done\"} 1"))
            #expect(metrics.body.contains("changeover_changeovers{step=\"pending\"} 1"))
            #expect(metrics.body.contains("changeover_changeovers_by_state{state=\"scheduled\"} 1"))
            #expect(metrics.body.contains("changeover_last_write_pause_seconds{database=\"orders\"} "))
            #expect(metrics.body.contains("changeover_retries_total "))
            // A valid exposition by promtool's rules and the project's (no spaces in label values,
            // no series per changeover), with the histograms of the completed changeover.
            #expect(PrometheusExposition.problems(in: metrics.body) == [], "\(metrics.body)")
            #expect(metrics.body.contains("changeover_write_pause_seconds_count 1\n"))
            #expect(metrics.body.contains("changeover_step_duration_seconds_count{step=\"promote\"} 1\n"))
            #expect(metrics.body.contains("changeover_build_info{commit="))
            #expect(metrics.body.contains("changeover_tick_duration_seconds_bucket{le=\"+Inf\"} "))
            #expect(metrics.body.contains("changeover_next_window_timestamp_seconds{database=\"billing\"}"))
            #expect(!daemon.output.contains(daemon.token), "the token was logged")
            let succeeded = daemon.output.split(separator: "\n").filter { $0.contains("step succeeded") }
            #expect(!succeeded.isEmpty && succeeded.allSatisfy { !$0.contains("error=") }, "\(succeeded.prefix(3))")

            // SIGHUP: a broken config is refused and the old one kept; a good one is taken.
            try "databases: [".write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            kill(daemon.pid, SIGHUP)
            #expect(
                try await eventually(.seconds(5)) {
                    try await LabHTTP.get(port: port, path: "/metrics", token: daemon.token).body.contains(
                        "changeover_config_reloads_total{result=\"refused\"} 1")
                })
            #expect(
                ((try await daemon.status()["daemon"] as? [String: Any])?["lastReloadError"] as? String)?.contains(
                    "malformed config") == true)
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            kill(daemon.pid, SIGHUP)
            #expect(
                try await eventually(.seconds(5)) {
                    try await LabHTTP.get(port: port, path: "/metrics", token: daemon.token).body.contains(
                        "changeover_config_reloads_total{result=\"ok\"} 1")
                })
            // A reload that moves the state elsewhere is refused: the daemon keeps its store.
            let shown = (try await daemon.status()["changeovers"] as? [[String: Any]])?.count ?? 0
            try text.replacingOccurrences(
                of: "stateDirectory: \(scenario.lab.root)/state", with: "stateDirectory: \(scenario.lab.root)/elsewhere"
            )
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            kill(daemon.pid, SIGHUP)
            #expect(
                try await eventually(.seconds(5)) {
                    try await LabHTTP.get(port: port, path: "/metrics", token: daemon.token).body.contains(
                        "changeover_config_reloads_total{result=\"refused\"} 2")
                })
            let refusal = (try await daemon.status()["daemon"] as? [String: Any])?["lastReloadError"] as? String
            #expect(refusal?.contains("the reload moves stateDirectory") == true, "\(refusal ?? "none")")
            #expect((try await daemon.status()["changeovers"] as? [[String: Any]])?.count == shown && shown == 2)
            #expect(
                daemon.output.split(separator: "\n").filter { $0.contains("the reload moves stateDirectory") }.count
                    == 1, "\(daemon.output)")
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)

            #expect(try await daemon.terminate() == 0, "\(daemon.output)")
            let after = try await CLI.run(["status", "--config", scenario.configPath])
            #expect(after.stdout.contains("daemon: stopped at "), "\(after.stdout)")
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
        }
    }

    /// Must-show 3, catch-up: SIGTERM while the follower catches up stops the changeover in
    /// catch-up, its record says so, the lock is free, the daemon exits 0; `changeover resume`
    /// finishes it later in its window, and no acknowledged write is lost.
    @Test func sigtermDuringCatchUpLeavesAResumableChangeover() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let port = FreePort.next()
            let windowStart = wholeSecond(in: 3)
            let write = { (catchUp: String?) in
                try self.config(
                    scenario, catchUp: catchUp, ordersExtra: "    oneOffWindows: [\"\(iso(windowStart)) for 10m\"]",
                    extra: "",
                    daemonPort: port
                ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            }
            // A hold the follower cannot reach in time: the daemon is caught in catch-up.
            try write("      holdFor: 60s\n      pollEvery: 50ms\n      timeout: 2m")
            let scheduled = try await CLI.run(
                ["schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
            #expect(scheduled.stdout.contains("scheduled: orders pg15 → pg15-patched"), "\(scheduled.stdout)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)

            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon.log")
            defer { daemon.kill9() }
            #expect(try await eventually { try store.changeover(id)?.machine.step == .catchUp }, "\(daemon.output)")
            try await Task.sleep(for: .milliseconds(500))
            let stopping = ContinuousClock.now
            #expect(try await daemon.terminate() == 0, "\(daemon.output)")
            #expect(ContinuousClock.now - stopping < .seconds(10), "the daemon took long to stop a catch-up")

            let stopped = try #require(try store.changeover(id))
            #expect(stopped.machine.step == .catchUp)
            #expect(
                stopped.stopped?.kind == .stopped && stopped.stopped?.daemon == true
                    && stopped.stopped?.step == .catchUp)
            #expect(stopped.stopped?.reason.contains("SIGTERM") == true)
            #expect(store.lockHolder(database: "orders") == nil)
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(records.contains { $0.changeover == id && $0.step == "catch-up" && $0.outcome == "stopped" })
            #expect(records.last?.step == "changeover" && records.last?.outcome == "stopped")
            #expect(!records.contains { $0.changeover == id && $0.step == "fence" })
            let status = try await CLI.run(["status", "--config", scenario.configPath, id])
            #expect(status.stdout.contains("state    stopped"), "\(status.stdout)")
            let hint = try #require(CLI.hints(in: status.stdout).first, "\(status.stdout)")
            #expect(hint == ["resume", id, "--config", scenario.configPath], "\(status.stdout)")
            // The old primary never stopped serving.
            #expect(scenario.lab.runningServers().contains { $0.dataDirectory == scenario.primary.dataDirectory })

            try write(nil)
            let resumed = try await CLI.run(hint, environment: scenario.environment)
            #expect(resumed.status == 0, "\(resumed.stderr)")
            let final = try #require(try store.changeover(id))
            #expect(final.machine.step == .done && final.stopped == nil)
            let fence = try #require(
                try AuditLog.read(path: try scenario.config().auditLog).first {
                    $0.changeover == id && $0.step == "fence"
                })
            #expect(fence.time >= windowStart)
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
        }
    }

    /// A window already open when the daemon starts: the changeover is due at the daemon's
    /// first look and runs to the end inside the window. (The plan once took a fresh "now" for
    /// an open window, later than the tick's own, so it was never due.)
    @Test func aWindowAlreadyOpenRunsAtTheFirstTick() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let port = FreePort.next()
            let windowStart = wholeSecond(in: -5)
            try config(
                scenario, ordersExtra: "    oneOffWindows: [\"\(iso(windowStart)) for 10m\"]",
                extra: """
                    schedule:
                      - {database: orders, image: pg15-patched}
                    """, daemonPort: port
            ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon.log")
            defer { daemon.kill9() }
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            #expect(
                try await eventually(.seconds(60)) { try store.changeovers().first?.machine.step == .done },
                "\(daemon.output)")
            #expect(try await daemon.terminate() == 0)
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A changeover the daemon stopped at SIGTERM is picked up again by the next daemon.
    @Test func theNextDaemonPicksUpWhatTheLastOneStopped() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let port = FreePort.next()
            let write = { (catchUp: String?) in
                try self.config(
                    scenario, catchUp: catchUp,
                    ordersExtra: "    oneOffWindows: [\"\(iso(wholeSecond(in: 1))) for 10m\"]",
                    extra: """
                        schedule:
                          - {database: orders, image: pg15-patched}
                        """, daemonPort: port
                ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            }
            try write("      holdFor: 60s\n      pollEvery: 50ms\n      timeout: 2m")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let first = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon1.log")
            defer { first.kill9() }
            // Catch-up holds for 60 s, so it is still there however long a loaded machine takes to reach it.
            #expect(
                try await eventually(.seconds(60)) { try store.changeovers().first?.machine.step == .catchUp },
                "\(first.output)")
            #expect(try await first.terminate() == 0, "\(first.output)")
            let id = try #require(try store.changeovers().first?.id)
            #expect(try store.changeover(id)?.stopped?.daemon == true)

            try write(nil)
            let second = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon2.log")
            defer { second.kill9() }
            #expect(
                try await eventually(.seconds(30)) { try store.changeover(id)?.machine.step == .done },
                "\(second.output)")
            #expect(try store.changeovers().count == 1, "the config's schedule: entry was recorded twice")
            #expect(try await second.terminate() == 0)
            let records = try AuditLog.read(path: try scenario.config().auditLog).filter { $0.changeover == id }
            #expect(
                records.contains {
                    $0.step == "changeover" && $0.outcome == "resumed" && $0.message == "stopped in catch-up"
                })
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// Must-show 3, switchover: SIGTERM while the router is being repointed (a 2 s hook) does not
    /// cut the switchover short: the daemon finishes it, then exits 0; nothing is lost.
    @Test func sigtermDuringTheSwitchoverFinishesItFirst() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let port = FreePort.next()
            let marker = "\(scenario.lab.root)/hook-started"
            let text = config(
                scenario, ordersExtra: "    oneOffWindows: [\"\(iso(wholeSecond(in: 1))) for 10m\"]",
                extra: """
                    schedule:
                      - {database: orders, image: pg15-patched}
                    """, daemonPort: port
            )
            .replacingOccurrences(of: "command: 'echo", with: "command: 'touch \(marker); sleep 2; echo")
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon.log")
            defer { daemon.kill9() }
            #expect(
                try await eventually { FileManager.default.fileExists(atPath: marker) },
                "the hook never ran: \(daemon.output)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            #expect(try store.changeover(id)?.machine.step == .repoint)
            #expect(try await daemon.terminate() == 0, "\(daemon.output)")

            let final = try #require(try store.changeover(id))
            #expect(final.machine.step == .done, "\(final.machine)")
            #expect(daemon.output.contains("shutting down"))
            let records = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(records.last?.changeover == id && records.last?.outcome == "completed")
            #expect(try scenario.currentPrimaryPort() == scenario.followerPorts[0])
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
        }
    }
}
