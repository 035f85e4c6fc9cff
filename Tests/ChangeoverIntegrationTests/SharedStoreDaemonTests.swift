import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Several daemons sharing a Postgres state store, run as the built executable, as on several
/// hosts: each has its own state directory (no `flock` lock is shared) and its own listener;
/// only the store (and, for the check, the audit log) is common.
@Suite(.serialized) struct SharedStoreDaemonTests {
    /// Issue 7's must-show: two daemons share four scheduled changeovers, one is SIGKILLed while
    /// its changeovers wait for their window; once its leases expire the other resumes them and
    /// finishes all four; no acknowledged write is lost; and the audit log shows that no database
    /// was ever worked on by two daemons at once.
    @Test func aSurvivingDaemonFinishesWhatAKilledOneLeft() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let lab = scenario.lab
            let storeServer = try await lab.startPrimary(name: "store")
            var others: [(String, Lab.Server)] = []
            for name in ["billing", "stock", "ledger"] { others.append((name, try await lab.startPrimary(name: name))) }
            let windowStart = wholeSecond(in: 45)
            let window = "oneOffWindows: [\"\(iso(windowStart)) for 10m\"]"
            let ttl = 8.0  // renewals every 2.7 s: room for a loaded machine that answers late
            let othersText = others.map { name, server in
                """
                  \(name):
                    engine: postgres
                    image: pg15
                    primary: "host=127.0.0.1 port=\(server.port) user=postgres dbname=postgres"
                    password: {env: LAB_PG_PASSWORD}
                    replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                    \(window)
                """
            }.joined(separator: "\n")
            func config(daemon: String, port: Int, concurrency: Int) -> String {
                let extra = """
                        \(window)
                    \(othersText)
                    schedule:
                      - {database: orders, image: pg15-patched}
                      - {database: billing, image: pg15-patched}
                      - {database: stock, image: pg15-patched}
                      - {database: ledger, image: pg15-patched}
                    store: {kind: postgres, conninfo: "host=127.0.0.1 port=\(storeServer.port) user=postgres dbname=postgres", passwordEnv: LAB_PG_PASSWORD, leaseTtl: \(Int(ttl))s}
                    scheduling: {switchoverEstimate: 5s, margin: 2s, minimumLead: 1h, recheckEvery: 2s}
                    daemon: {listen: "127.0.0.1:\(port)", tokenEnv: TEST_DAEMON_TOKEN, concurrency: \(concurrency), tick: 200ms}
                    """
                return scenario.configText(followerPort: scenario.followerPorts[0], extra: extra)
                    .replacingOccurrences(
                        of: "stateDirectory: \(lab.root)/state\n",
                        with: "stateDirectory: \(lab.root)/state-\(daemon)\nauditLog: \(lab.root)/audit.jsonl\n")
            }
            let (portA, portB) = (FreePort.next(), FreePort.next())
            // A runs two at once, B four: B has room to take A's over as soon as their leases expire.
            try config(daemon: "a", port: portA, concurrency: 2).write(
                toFile: "\(lab.root)/fleet-a.yaml", atomically: true, encoding: .utf8)
            try config(daemon: "b", port: portB, concurrency: 4).write(
                toFile: "\(lab.root)/fleet-b.yaml", atomically: true, encoding: .utf8)
            let fleet = try FleetConfig.load(path: "\(lab.root)/fleet-a.yaml", environment: scenario.environment)
            #expect(fleet.store.kind == .postgres && fleet.auditLog == "\(lab.root)/audit.jsonl")
            let store = StateStore(config: fleet, environment: scenario.environment)

            let a = try await DaemonProcess.start(
                config: "\(lab.root)/fleet-a.yaml", port: portA, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(lab.root)/daemon-a.log")
            defer { a.kill9() }
            let databases = ["orders", "billing", "stock", "ledger"]
            let steps = { ((try? store.changeovers()) ?? []).map { "\($0.database) \($0.machine.step)" } }
            // A first: it records the four schedule entries and claims two; B, started then, claims the other two.
            #expect(
                try await eventually(.seconds(30)) {
                    let records = try store.changeovers()
                    return records.count == 4 && records.filter { $0.machine.step != .pending }.count == 2
                }, "A did not start two: \(steps())\nA: \(a.output)")
            let b = try await DaemonProcess.start(
                config: "\(lab.root)/fleet-b.yaml", port: portB, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(lab.root)/daemon-b.log")
            defer { b.kill9() }

            // Both daemons work: every changeover is provisioned and waits for its window, two
            // under leases of A's and two of B's.
            #expect(
                try await eventually(.seconds(150)) {
                    let records = try store.changeovers()
                    return records.count == 4 && records.allSatisfy { $0.machine.step == .awaitWindow }
                }, "not all four reached await-window: \(steps())\nA: \(a.output)\nB: \(b.output)")
            #expect(try store.changeovers().count == 4, "a schedule: entry was recorded twice")
            var holders: [String: LeaseState] = [:]
            for database in databases { holders[database] = try await store.lease(of: database) }
            let ofA = databases.filter { holders[$0]?.lease.holder.contains("pid \(a.pid) ") == true }
            let ofB = databases.filter { holders[$0]?.lease.holder.contains("pid \(b.pid) ") == true }
            #expect(
                ofA.count == 2 && ofB.count == 2,
                "leases: \(holders.mapValues { "\($0.lease.holder) #\($0.lease.token)" })")
            #expect(Date() < windowStart, "the window opened before the daemon could be killed midway")

            // A dies without a word: its leases are neither renewed nor released.
            let killedAt = Date()
            a.kill9()

            // B takes A's changeovers over once their leases expire, and finishes all four.
            #expect(
                try await eventually(.seconds(120)) {
                    try store.changeovers().allSatisfy { $0.machine.step == .done }
                }, "not all done: \(steps())\nB: \(b.output)")
            #expect(try await b.terminate() == 0, "\(b.output)")

            let audit = try AuditLog.read(path: fleet.auditLog)
            #expect(AuditLog.verify(path: fleet.auditLog).isIntact)
            for database in ofA {
                let resumed = try #require(
                    audit.first { $0.database == database && $0.step == "changeover" && $0.outcome == "resumed" })
                #expect(resumed.actor.contains("pid \(b.pid) "), "\(resumed)")
                // After the kill, and soon after the lease's expiry: B had room. (That B waited for
                // the expiry is the overlap check below; a renewal delayed by a loaded machine can
                // leave A's lease expiring sooner than 2/3 of a ttl after the kill.)
                let after = resumed.time.timeIntervalSince(killedAt)
                #expect(after > 0 && after < ttl + 20, "resumed \(after) s after the kill")
                #expect(resumed.message == "interrupted in await-window", "\(resumed.message ?? "")")
                let lastOfA = audit.filter { $0.database == database && $0.actor.contains("pid \(a.pid) ") }.map(\.time)
                    .max()
                print(
                    "shared store: \(database) resumed by B \(String(format: "%.1f", resumed.time.timeIntervalSince(killedAt))) s after A was killed, "
                        + "\(String(format: "%.1f", resumed.time.timeIntervalSince(lastOfA ?? killedAt))) s after A's last audit record (lease ttl \(Int(ttl)) s)"
                )
            }
            // No two holders' intervals on one database overlap; tokens grow with time.
            let intervals = LeaseIntervals(audit)
            #expect(intervals.overlaps.isEmpty, "\(intervals.overlaps)")
            for database in databases {
                let spans = intervals.spans[database] ?? []
                #expect(spans.count == (ofA.contains(database) ? 2 : 1), "\(database): \(spans)")
                #expect(spans.last?.holder.contains("pid \(b.pid) ") == true)
            }
            // Every record a changeover wrote carries the lease it was written under.
            #expect(
                audit.filter { $0.step != "schedule" && $0.step != "notify" }.allSatisfy {
                    Int64($0.facts["lease.token"] ?? "") != nil && $0.facts["lease.holder"]?.isEmpty == false
                })

            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            let orders = try #require(try store.database("orders"))
            let port = try DatabasePrimary.parse(orders.primary, engine: .postgres).port
            #expect(port == scenario.followerPorts[0])
            #expect(try await scenario.missing(report.acknowledged, port: port).isEmpty)
        }
    }
}

/// What the audit log says about leases: per database, the span of time each fencing token's
/// records cover, and the pairs of spans of different holders that overlap (there must be none).
struct LeaseIntervals {
    struct Span: CustomStringConvertible {
        var token: Int64
        var holder: String
        var first: Date
        var last: Date
        var description: String { "#\(token) \(holder) \(first.timeIntervalSince1970)…\(last.timeIntervalSince1970)" }
    }

    var spans: [String: [Span]] = [:]
    var overlaps: [String] = []

    init(_ records: [AuditRecord]) {
        for record in records {
            guard let token = record.facts["lease.token"].flatMap({ Int64($0) }),
                let holder = record.facts["lease.holder"]
            else { continue }
            var list = spans[record.database] ?? []
            if let index = list.firstIndex(where: { $0.token == token }) {
                if list[index].holder != holder {
                    overlaps.append("\(record.database): token \(token) has two holders")
                }
                list[index].first = min(list[index].first, record.time)
                list[index].last = max(list[index].last, record.time)
            } else {
                list.append(Span(token: token, holder: holder, first: record.time, last: record.time))
            }
            spans[record.database] = list
        }
        for (database, list) in spans {
            let sorted = list.sorted { $0.token < $1.token }
            spans[database] = sorted
            for (earlier, later) in zip(sorted, sorted.dropFirst()) where !(earlier.last < later.first) {
                overlaps.append("\(database): \(earlier) overlaps \(later)")
            }
        }
    }
}
