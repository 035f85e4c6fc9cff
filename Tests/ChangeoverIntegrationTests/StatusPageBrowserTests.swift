import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// The daemon's page in real headless Chromium, driven through WebDriver: a lab fleet of three
/// databases, one of which changes over while the page is open.
@Suite(.serialized) struct StatusPageBrowserTests {
    /// Where the screenshots go: `.build/page-screenshots` of the package.
    static let screenshots = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".build/page-screenshots").path

    func config(_ scenario: LabScenario, billingPort: Int, ledgerPort: Int, daemonPort: Int, ordersWindow: Date?)
        -> String
    {
        let weekly = weeklyWindowDaysAway()
        let freezeDay = ScheduleText.iso(Date().addingTimeInterval(6 * 86_400)).prefix(10)
        // Catch-up held for 4 s: long enough that a page polling every second sees the step.
        return scenario.configText(
            followerPort: scenario.followerPorts[0],
            catchUp: "      maxLagBytes: 1MB\n      holdFor: 4s\n      pollEvery: 50ms\n      timeout: 2m",
            extra: """
                    windows: ["\(weekly)"]
                \(ordersWindow.map { "    oneOffWindows: [\"\(iso($0)) for 60s\"]" } ?? "")
                  billing:
                    engine: postgres
                    image: pg15
                    primary: "host=127.0.0.1 port=\(billingPort) user=postgres dbname=postgres"
                    password: {env: LAB_PG_PASSWORD}
                    replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                    windows: ["\(weekly)", "sun:01:00-sun:03:00"]
                  ledger:
                    engine: postgres
                    image: pg15
                    primary: "host=127.0.0.1 port=\(ledgerPort) user=postgres dbname=postgres"
                    password: {env: LAB_PG_PASSWORD}
                    replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                    windows: ["\(weekly)", "wed:04:00-wed:06:00"]
                    freezes: ["\(freezeDay)"]
                scheduling: {switchoverEstimate: 5s, margin: 2s, minimumLead: 1h, recheckEvery: 2s}
                daemon: {listen: "127.0.0.1:\(daemonPort)", tokenEnv: TEST_DAEMON_TOKEN, concurrency: 2, tick: 200ms}
                \(ordersWindow == nil ? "" : "schedule:\n  - {database: orders, image: pg15-patched}")
                """)
    }

    /// Must-show 1: the token refused shows a message and no data; the right one shows three
    /// rows with their window bars; a changeover scheduled while the page is open is seen
    /// moving from step to step, then in the ended list with its write pause and its audit
    /// records, and the page never reloads. Screenshots at 1280×800 and at phone width.
    @Test func thePageFollowsAChangeoverWithoutReloading() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let billing = try await scenario.lab.startPrimary(name: "billing")
            let ledger = try await scenario.lab.startPrimary(name: "ledger")
            let port = FreePort.next()
            try config(
                scenario, billingPort: billing.port, ledgerPort: ledger.port, daemonPort: port, ordersWindow: nil
            )
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let token = "t0ken-\(UUID().uuidString)"
            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: token, log: "\(scenario.lab.root)/daemon.log")
            defer { daemon.kill9() }

            // What is served without the token holds no data, and the health check says only that it runs.
            let health = try await LabHTTP.get(port: port, path: "/healthz")
            #expect(health.status == 200 && health.body == "running\n")
            let page = try await LabHTTP.get(port: port, path: "/")
            #expect(page.status == 200 && page.headers["content-type"]?.hasPrefix("text/html") == true)
            #expect(page.headers["content-security-policy"]?.contains("script-src 'self'") == true)
            #expect(page.headers["content-security-policy"]?.contains("unsafe-inline") == false)
            #expect(page.headers["x-content-type-options"] == "nosniff")
            #expect(!page.body.contains("<script>") && !page.body.contains("<style") && !page.body.contains("orders"))
            #expect(try await LabHTTP.get(port: port, path: "/timeline").status == 401)
            #expect(try await LabHTTP.get(port: port, path: "/changeovers/x/audit").status == 401)

            let browser = try await WebDriver.start(
                width: 1280, height: 800, log: "\(scenario.lab.root)/chromedriver.log")
            do {
                try await follow(
                    browser: browser, daemon: daemon, scenario: scenario, port: port, token: token,
                    billingPort: billing.port, ledgerPort: ledger.port)
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
            #expect(!daemon.output.contains(token), "the token was logged")
            #expect(try await daemon.terminate() == 0)
        }
    }

    private func follow(
        browser: WebDriver, daemon: DaemonProcess, scenario: LabScenario, port: Int, token: String,
        billingPort: Int, ledgerPort: Int
    ) async throws {
        try await browser.navigate("http://127.0.0.1:\(port)/")
        func script(_ body: String) async throws -> String { (try await browser.run(body) as? String) ?? "" }
        func visibleText() async throws -> String { try await script("return document.body.innerText;") }

        // A wrong token: a clear message, no database name anywhere, nothing kept.
        try await browser.type("wrong-\(token)", into: "#token")
        try await browser.click("#token-submit")
        let toldRefused = try await eventually(.seconds(10)) {
            try await script("return document.getElementById('message').textContent;").contains("refused")
        }
        let afterRefusal = try await visibleText()
        #expect(toldRefused, "no refusal shown: \(afterRefusal)")
        let refused = try await script("return document.documentElement.outerHTML;")
        for name in ["orders", "billing", "ledger"] {
            #expect(!refused.contains(name), "\(name) shown after a wrong token")
        }
        #expect(try await script("return String(sessionStorage.getItem('changeover.token'));") == "null")

        // The right one, submitted from the keyboard (Enter): three rows, each with window bars.
        try await browser.type(token + "\u{E007}", into: "#token")
        func rowsWithBars() async throws -> [String] {
            let listed = try await script(
                """
                const rows = [...document.querySelectorAll('#timeline tbody tr')];
                return rows.filter(r => r.querySelectorAll('.window').length > 0).map(r => r.dataset.database).sort().join(',');
                """)
            return listed.split(separator: ",").map(String.init)
        }
        let shown = try await eventually(.seconds(15)) { try await rowsWithBars() == ["billing", "ledger", "orders"] }
        let timelineText = try await visibleText()
        #expect(shown, "three rows with window bars expected: \(timelineText)")
        #expect(try await script("return String(document.querySelectorAll('#timeline .freeze').length);") == "1")
        #expect(try await script("return document.cookie;") == "")

        // The timeline in pages: the daemon answers the rows asked for, and the page asks for
        // more when told to (`?rows=2` makes its page two rows).
        let paged = try await LabHTTP.get(port: port, path: "/timeline?offset=1&limit=1", token: token)
        let pagedJSON = try JSONSerialization.jsonObject(with: Data(paged.body.utf8)) as? [String: Any]
        #expect(pagedJSON?["total"] as? Int == 3, "\(paged.body.prefix(300))")
        #expect(
            (pagedJSON?["databases"] as? [[String: Any]])?.map { $0["database"] as? String } == ["ledger"],
            "\(paged.body.prefix(300))")
        #expect(try await LabHTTP.get(port: port, path: "/timeline?limit=0", token: token).status == 400)
        func rows() async throws -> String {
            try await script(
                "return [...document.querySelectorAll('#timeline tbody tr')].map(r => r.dataset.database).join(',');")
        }
        try await browser.navigate("http://127.0.0.1:\(port)/?rows=2")
        let firstPage = try await eventually(.seconds(15)) { try await rows() == "billing,ledger" }
        let firstRows = try await rows()
        #expect(firstPage, "two rows expected: \(firstRows)")
        #expect(
            try await script("return document.getElementById('timeline-count').textContent;")
                == "Showing 2 of 3 databases.")
        try await browser.click("#timeline-more")
        let secondPage = try await eventually(.seconds(15)) { try await rows() == "billing,ledger,orders" }
        let secondRows = try await rows()
        #expect(secondPage, "three rows expected after asking for more: \(secondRows)")
        #expect(try await script("return String(document.getElementById('timeline-more').hidden);") == "true")
        try await browser.navigate("http://127.0.0.1:\(port)/")
        let allAgain = try await eventually(.seconds(15)) {
            try await rowsWithBars() == ["billing", "ledger", "orders"]
        }
        #expect(allAgain)
        // A mark that a reload would wipe.
        _ = try await browser.run("document.documentElement.dataset.probe = 'kept'; return null;")

        // Schedule a changeover of orders while the page is open: window 30 s ahead.
        let windowStart = wholeSecond(in: 30)
        try config(
            scenario, billingPort: billingPort, ledgerPort: ledgerPort, daemonPort: port, ordersWindow: windowStart
        )
        .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)

        // Its step as the page shows it, until it is in the ended list.
        var steps: [String] = []
        var endedRow = ""
        let ended = try await eventually(.seconds(90)) {
            let seen = try await script(
                """
                const row = [...document.querySelectorAll('#running tbody tr')].find(r => r.querySelector('.db').textContent === 'orders');
                return row ? row.querySelector('.step').textContent : '';
                """)
            if !seen.isEmpty, steps.last != seen {
                steps.append(seen)
                if seen == "await-window" {
                    try await browser.screenshot(to: "\(Self.screenshots)/desktop-1280x800-running.png")
                }
            }
            endedRow = try await script(
                """
                const row = [...document.querySelectorAll('#ended tbody tr')].find(r => r.querySelector('.db').textContent === 'orders');
                return row ? [row.querySelector('.outcome').textContent, row.querySelector('.pause').textContent].join('|') : '';
                """)
            return !endedRow.isEmpty
        }
        #expect(ended, "orders never showed as ended; steps seen: \(steps); \(daemon.output.suffix(2000))")
        #expect(
            steps.count >= 2 && steps.contains("catch-up") && steps.contains("await-window"), "steps seen: \(steps)")
        let store = StateStore(directory: "\(scenario.lab.root)/state")
        let record = try #require(try store.changeovers().first { $0.database == "orders" })
        #expect(record.machine.step == .done)
        let pause = try #require(Double(record.facts["writePause.ms"] ?? ""))
        #expect(endedRow == "✓ completed|\(String(format: "%.1f", pause)) ms", "\(endedRow)")
        #expect(
            try await script("return String(document.documentElement.dataset.probe);") == "kept", "the page reloaded")

        // Screenshots: desktop, then phone width, where the page must not scroll sideways.
        _ = try await browser.run("window.scrollTo(0, 0); return null;")
        try await browser.screenshot(to: "\(Self.screenshots)/desktop-1280x800.png")

        // Its audit records, fetched with the token from the link.
        try await browser.click("#ended tbody tr .audit-link")
        #expect(
            try await eventually(.seconds(10)) {
                try await script("return document.getElementById('audit-text').textContent;").contains("completed")
            })
        try await browser.click("#audit-close")
        _ = try await browser.run("window.scrollTo(0, 0); return null;")
        try await browser.resize(width: 390, height: 844)
        #expect(
            try await eventually(.seconds(5)) {
                try await script(
                    "return String(document.documentElement.scrollWidth <= window.innerWidth + 1 && window.innerWidth < 500);"
                ) == "true"
            }, "the page is wider than a phone's screen")
        try await browser.screenshot(to: "\(Self.screenshots)/phone-390.png")

        // A base backup's progress as a bar, then the catch-up lag's trend: a changeover of
        // billing that this test holds and writes the progress lines of, as a controller does.
        let id = "billing-progress"
        var running = ChangeoverRecord(
            id: id, database: "billing", fromImage: "pg15", toImage: "pg15-patched",
            machine: ChangeoverMachine(step: .provision), startedAt: Date(), updatedAt: Date(), facts: [:],
            timings: [], policy: nil)
        let lock = try store.lock(database: "billing", changeover: id, actor: "the page test")
        defer { withExtendedLifetime(lock) {} }
        try store.save(running)
        store.saveProgress("base backup 2048/4096 kB (50%), 0/1 tablespace", of: id)
        func progress() async throws -> String {
            try await script(
                """
                const row = [...document.querySelectorAll('#running tbody tr')].find(r => r.dataset.id === '\(id)');
                if (!row) return '';
                const bar = row.querySelector('progress.backup'), trend = row.querySelector('.trend');
                return [bar ? bar.value : '', row.querySelector('.percent')?.textContent ?? '', trend ? trend.textContent : ''].join('|');
                """)
        }
        let barShown = try await eventually(.seconds(15)) { try await progress() == "50| 50%|" }
        let barText = try await progress()
        #expect(barShown, "the base backup's bar: \(barText)")
        running.machine = ChangeoverMachine(step: .catchUp)
        running.updatedAt = Date()
        try store.save(running)
        var lag = 900_000
        let falling = try await eventually(.seconds(20)) {
            store.saveProgress("lag \(lag) bytes, 0.100 s", of: id)
            lag = max(0, lag - 150_000)
            try await Task.sleep(for: .milliseconds(1100))
            return try await progress().contains("|↓ lag falling over the last")
        }
        let trendText = try await progress()
        #expect(falling, "the lag's trend: \(trendText)")

        // Forgetting the token: the data goes with it.
        try await browser.click("#forget")
        #expect(
            try await eventually(.seconds(5)) {
                !(try await script("return document.body.innerText;")).contains("ledger")
            })
    }
}
