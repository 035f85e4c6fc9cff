import ChangeoverCore
import ChangeoverLab
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Notifications from real runs of the CLI: a notify command that appends each notice to a
/// file, and a webhook received by a loopback HTTP listener of the test's own.
@Suite(.serialized) struct NotifyTests {
    /// The scenario's config with `notify` (YAML, a top-level section) and `orders` (lines for
    /// the database, indented 4).
    func writeConfig(_ scenario: LabScenario, orders: String = "", catchUp: String? = nil, notify: String) throws {
        try scenario.configText(
            followerPort: scenario.followerPorts[0], catchUp: catchUp,
            extra: """
                \(orders)
                scheduling: {switchoverEstimate: 2s, margin: 1s, minimumLead: 1h, recheckEvery: 1s}
                \(notify)
                """
        ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
    }

    /// The notify command: appends its stdin (one line of JSON) and a newline to `file`.
    func appending(to file: String) -> String { "command: 'cat >> \(file); echo >> \(file)'" }

    func notices(_ file: String) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
    }

    func expectNoSecret(_ text: String, _ scenario: LabScenario) {
        #expect(!text.contains(scenario.lab.superuserPassword), "a password in: \(text)")
        #expect(!text.contains(scenario.lab.replicationPassword), "a password in: \(text)")
    }

    func records(_ scenario: LabScenario) throws -> [AuditRecord] {
        try AuditLog.read(path: try scenario.config().auditLog)
    }

    /// `run --in-window` with a window 25 s ahead and reminders 1 h and 12 s before it: scheduled,
    /// the 1 h reminder at once (it is past due, the window has not opened), the 12 s one before
    /// the window opens (if the follower was ready before it), then completed inside the window
    /// with the write pause and the new primary.
    @Test func aScheduledChangeoverIsAnnouncedRemindedAndReportedCompleted() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let file = "\(scenario.lab.root)/notices.jsonl"
            let windowStart = wholeSecond(in: 25)
            try writeConfig(
                scenario, orders: "    oneOffWindows: [\"\(iso(windowStart)) for 60s\"]",
                notify: "notify: {\(appending(to: file)), before: [12s, 1h]}")
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window",
                ],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(!run.stderr.contains("warning"), "\(run.stderr)")
            let all = try notices(file)
            let events = all.map { $0["event"] as? String ?? "?" }
            #expect(events.first == "scheduled" && events.last == "completed", "\(events)")

            let scheduled = all[0]
            #expect(scheduled["database"] as? String == "orders" && scheduled["engine"] as? String == "postgres")
            #expect(scheduled["fromImage"] as? String == "pg15" && scheduled["toImage"] as? String == "pg15-patched")
            #expect(scheduled["switchoverAt"] as? String == iso(windowStart))
            #expect((scheduled["window"] as? [String: Any])?["start"] as? String == iso(windowStart))
            #expect((scheduled["window"] as? [String: Any])?["zone"] as? String == "UTC")

            // The 1 h reminder is past due when scheduling starts and is sent at once; the 12 s one at its moment.
            let reminders = all.filter { $0["event"] as? String == "reminder" }
            func time(_ notice: [String: Any]) throws -> Date {
                try #require((notice["at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            }
            #expect(reminders.map { $0["reminder"] as? String ?? "?" }.first == "1h", "\(events)")
            #expect(events.firstIndex(of: "reminder") == 1, "\(events)")
            for reminder in reminders {
                #expect(reminder["switchoverAt"] as? String == iso(windowStart))
                #expect(try time(reminder) < windowStart)
            }
            let audit = try records(scenario)
            let awaited = try #require(audit.first { $0.step == "await-window" && $0.outcome == "started" })
            if awaited.time < windowStart.addingTimeInterval(-1) {
                // The follower was ready before the window: the 12 s reminder went out before it opened,
                // not before its moment (ISO times are whole seconds).
                let twelve = try #require(reminders.first { $0["reminder"] as? String == "12s" }, "\(events)")
                #expect(try time(twelve) >= windowStart.addingTimeInterval(-13))
            }
            #expect(reminders.count <= 2, "\(events)")

            let completed = try #require(all.last)
            #expect(completed["changeover"] as? String == scheduled["changeover"] as? String)
            #expect(completed["outcome"] as? String == "completed")
            #expect((completed["writePauseMs"] as? Double ?? 0) > 0, "\(completed)")
            #expect((completed["newPrimary"] as? [String: Any])?["port"] as? Int == scenario.followerPorts[0])
            #expect((completed["window"] as? [String: Any])?["start"] as? String == iso(windowStart))
            let completedAt = try #require(
                (completed["at"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) })
            #expect(completedAt >= windowStart)

            // Each delivery is audited; the reminder is in the record's facts, so a resumed changeover would not send it again.
            #expect(audit.filter { $0.step == "notify" }.map(\.outcome) == Array(repeating: "sent", count: all.count))
            let record = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first)
            if !reminders.isEmpty {
                #expect(record.facts[ReminderPlan.fact]?.contains("@\(iso(windowStart))") == true, "\(record.facts)")
            }
            expectNoSecret(try String(contentsOfFile: file, encoding: .utf8), scenario)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A reminder whose moment comes while the follower is still catching up (it holds its lag
    /// for 8 s) is sent then, not when the wait for the window begins.
    @Test func aReminderDueDuringCatchUpIsSentThen() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let file = "\(scenario.lab.root)/notices.jsonl"
            let windowStart = wholeSecond(in: 25)
            try writeConfig(
                scenario, orders: "    oneOffWindows: [\"\(iso(windowStart)) for 60s\"]",
                catchUp: "      maxLagBytes: 1MB\n      holdFor: 8s\n      pollEvery: 50ms\n      timeout: 2m",
                notify: "notify: {\(appending(to: file)), before: [20s], on: [reminder]}")
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window",
                ],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            let all = try notices(file)
            #expect(all.map { $0["event"] as? String } == ["reminder"], "\(all)")
            #expect(all.first?["reminder"] as? String == "20s")
            let audit = try records(scenario)
            let sent = try #require(audit.firstIndex { $0.step == "notify" && $0.facts["reminder"] == "20s" })
            #expect(audit[sent].time < windowStart)
            let awaited = try #require(audit.firstIndex { $0.step == "await-window" && $0.outcome == "started" })
            if audit[awaited].time > windowStart.addingTimeInterval(-19) {
                #expect(sent < awaited, "the reminder waited for await-window")
                #expect(audit[sent].time >= windowStart.addingTimeInterval(-21))
            }
            // Sent once, though provision, catch-up and await-window each looked.
            #expect(audit.filter { $0.step == "notify" }.count == 1)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// prepare, then abort: one `aborted` notice saying where and why; `prepare` itself sends none.
    @Test func anAbortedChangeoverIsReported() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let file = "\(scenario.lab.root)/notices.jsonl"
            try writeConfig(
                scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]",
                notify: "notify: {\(appending(to: file))}")
            let prepared = try await CLI.run(
                ["prepare", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(prepared.status == 0, "\(prepared.stderr)")
            #expect(try notices(file).isEmpty)
            let id = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id)
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            let all = try notices(file)
            #expect(all.count == 1)
            let notice = try #require(all.first)
            #expect(notice["event"] as? String == "aborted" && notice["outcome"] as? String == "aborted")
            #expect(notice["changeover"] as? String == id)
            #expect(notice["failedStep"] as? String == "await-window")
            #expect((notice["failure"] as? String)?.isEmpty == false, "\(notice)")
            #expect(notice["newPrimary"] == nil && notice["writePauseMs"] == nil)
            #expect((notice["oldPrimary"] as? [String: Any])?["port"] as? Int == scenario.primary.port)
            expectNoSecret(try String(contentsOfFile: file, encoding: .utf8), scenario)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }

    /// A deadline 20 s ahead and no window before it: the switchover is forced, and the notice
    /// says so (with the deadline and why) before the fence, then completed.
    @Test func aForcedSwitchoverIsAnnouncedBeforeTheFence() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let file = "\(scenario.lab.root)/notices.jsonl"
            try writeConfig(
                scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]",
                notify: "notify: {\(appending(to: file))}")
            let deadline = wholeSecond(in: 20)
            let run = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--in-window", "--deadline", iso(deadline),
                ], environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            let all = try notices(file)
            let events = all.map { $0["event"] as? String ?? "?" }
            #expect(events.filter { $0 == "forced" }.count == 1 && events.last == "completed", "\(events)")
            let forced = try #require(all.first { $0["event"] as? String == "forced" })
            #expect(forced["deadline"] as? String == iso(deadline), "\(forced)")
            #expect(forced["forcedByDeadline"] as? Bool == true, "\(forced)")
            #expect((forced["reason"] as? String)?.contains("no maintenance window") == true, "\(forced)")
            // Sent before the fence started, never inside the write pause.
            let audit = try records(scenario)
            let sent = try #require(
                audit.first { $0.step == "notify" && $0.outcome == "sent" && $0.message?.contains("forced") == true },
                "\(audit.filter { $0.step == "notify" })")
            let fence = try #require(audit.first { $0.step == "fence" && $0.outcome == "started" })
            #expect(sent.time <= fence.time)
            expectNoSecret(try String(contentsOfFile: file, encoding: .utf8), scenario)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A command that fails and a webhook nobody listens on: both are warnings and audit records;
    /// the changeover completes with exit 0. The command does not inherit the secrets' variables.
    @Test func failingNotificationsAreRecordedAndChangeNothing() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let envFile = "\(scenario.lab.root)/notify.env"
            let closed = FreePort.next()
            try writeConfig(
                scenario,
                notify: """
                    notify:
                      command: 'env > \(envFile); echo "page-oncall: no route" >&2; exit 3'
                      webhook: http://127.0.0.1:\(closed)/hook
                      on: [completed]
                      timeout: 2s
                    """)
            let run = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            #expect(
                run.stderr.contains(
                    "warning: the completed notification was not delivered: the notify command exited with status 3: page-oncall: no route"
                ),
                "\(run.stderr)")
            #expect(
                run.stderr.contains("the webhook http://127.0.0.1:\(closed) failed: cannot connect"), "\(run.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            #expect(try store.changeovers().first?.machine.step == .done)
            let audit = try records(scenario)
            let failed = try #require(audit.first { $0.step == "notify" })
            #expect(failed.outcome == "failed" && failed.facts["event"] == "completed", "\(failed)")
            #expect(failed.facts["targets"] == "command, webhook http://127.0.0.1:\(closed)")
            // The changeover's own end was recorded before the notice went out.
            let ended = try #require(audit.lastIndex { $0.step == "changeover" && $0.outcome == "completed" })
            #expect(audit.firstIndex { $0.step == "notify" }! > ended)
            #expect(AuditLog.verify(path: try scenario.config().auditLog).isIntact)
            let environment = try String(contentsOfFile: envFile, encoding: .utf8)
            #expect(
                environment.contains("CHANGEOVER_EVENT=completed") && environment.contains("CHANGEOVER_DATABASE=orders")
            )
            #expect(!environment.contains("LAB_PG_PASSWORD") && !environment.contains("LAB_REPL_PASSWORD"))
            expectNoSecret(environment, scenario)
            expectNoSecret(run.stdout + run.stderr, scenario)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A command slower than notify.timeout is killed and reported; the changeover goes on.
    @Test func aNotifyCommandPastItsTimeoutIsKilled() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            try writeConfig(
                scenario, orders: "    windows: [\"\(weeklyWindowDaysAway())\"]",
                notify: "notify: {command: 'sleep 30', timeout: 300ms}")
            let began = ContinuousClock.now
            let scheduled = try await CLI.run([
                "schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
            ])
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
            #expect(ContinuousClock.now - began < .seconds(20))
            #expect(
                scheduled.stderr.contains(
                    "warning: the scheduled notification was not delivered: the notify command did not finish within 300 ms"
                ),
                "\(scheduled.stderr)")
            let audit = try records(scenario)
            #expect(audit.contains { $0.step == "notify" && $0.outcome == "failed" })
            #expect(audit.contains { $0.step == "schedule" && $0.outcome == "recorded" })
        }
    }

    /// `schedule` POSTs the scheduled notice to the webhook: JSON, the event in a header, the
    /// window in UTC and in the database's zone.
    @Test func theWebhookReceivesTheNoticeAsAPost() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let listener = try LoopbackHTTPListener()
            defer { listener.stop() }
            try writeConfig(
                scenario, orders: "    windows: [\"\(weeklyWindowDaysAway()) Europe/Berlin\"]",
                notify: "notify: {webhook: \"http://127.0.0.1:\(listener.port)/hook?token=t0k\"}")
            let scheduled = try await CLI.run(
                ["schedule", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
            #expect(!scheduled.stderr.contains("warning"), "\(scheduled.stderr)")
            let requests = listener.requests
            #expect(requests.count == 1)
            let request = try #require(requests.first)
            #expect(request.head.hasPrefix("POST /hook?token=t0k HTTP/1.1\r\n"), "\(request.head)")
            #expect(request.head.lowercased().contains("content-type: application/json"))
            #expect(request.head.lowercased().contains("x-changeover-event: scheduled"))
            let notice = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? [String: Any])
            #expect(notice["event"] as? String == "scheduled" && notice["version"] as? Int == 1)
            let window = try #require(notice["window"] as? [String: Any])
            #expect(window["zone"] as? String == "Europe/Berlin")
            #expect((window["start"] as? String)?.hasSuffix("Z") == true)
            let local = try #require(window["startLocal"] as? String)
            #expect(local.hasSuffix("+01:00") || local.hasSuffix("+02:00"), "\(local)")
            #expect(local.contains("T03:00:00"), "\(local)")
            #expect(notice["switchoverAt"] as? String == window["start"] as? String)
            #expect(notice["forcedByDeadline"] as? Bool == false)
            expectNoSecret(String(decoding: request.body, as: UTF8.self), scenario)
            let audit = try records(scenario)
            let sent = try #require(audit.first { $0.step == "notify" })
            #expect(
                sent.outcome == "sent" && sent.message == "scheduled sent to webhook http://127.0.0.1:\(listener.port)")
            #expect(!(sent.message ?? "").contains("t0k"))
        }
    }
}

/// A loopback HTTP server for one test: accepts connections on a thread of its own, reads one
/// request each (head and Content-Length body), answers 204 and keeps what it got.
final class LoopbackHTTPListener: Sendable {
    struct ListenFailure: Error {}

    struct Request: Sendable {
        var head: String
        var body: [UInt8]
    }

    let port: Int
    private let fd: Int32
    private let received = Mutex<[Request]>([])

    var requests: [Request] { received.withLock { $0 } }

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard fd >= 0, bound == 0, listen(fd, 8) == 0 else { throw ListenFailure() }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { return }
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { break }
                data += buffer[..<n]
                guard let end = data.firstRange(of: [13, 10, 13, 10]) else { continue }
                let head = String(decoding: data[..<end.lowerBound], as: UTF8.self)
                let length =
                    head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if data.count - end.upperBound >= length {
                    received.withLock {
                        $0.append(Request(head: head, body: Array(data[end.upperBound..<end.upperBound + length])))
                    }
                    break
                }
            }
            let reply = Array("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(client)
        }
    }
}
