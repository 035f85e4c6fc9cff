import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `status` across a fleet: the filters, the limit, the pending view and the JSON's schema version.
@Suite(.serialized) struct StatusFleetTests {
    @Test func pendingListsEveryWaitingChangeoverWithItsWindowAndDeadline() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let billing = try await scenario.lab.startPrimary(name: "billing")
            let window = weeklyWindowDaysAway()
            try scenario.configText(
                followerPort: scenario.followerPorts[0],
                extra: """
                        windows: ["\(window)"]
                      billing:
                        engine: postgres
                        image: pg15
                        primary: "host=127.0.0.1 port=\(billing.port) user=postgres dbname=postgres"
                        password: {env: LAB_PG_PASSWORD}
                        replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                        windows: ["\(window)"]
                    scheduling: {switchoverEstimate: 5s, margin: 2s, minimumLead: 1h}
                    """
            ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let config = ["--config", scenario.configPath]
            func cli(_ arguments: [String]) async throws -> CLI.Result {
                try await CLI.run(arguments + config, environment: scenario.environment)
            }
            let deadline = wholeSecond(in: 30 * 86_400)
            #expect(
                try await cli([
                    "schedule", "--database", "orders", "--image", "pg15-patched", "--deadline", iso(deadline),
                ]).status == 0)
            #expect(try await cli(["schedule", "--database", "billing", "--image", "pg15-patched"]).status == 0)
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let orders = try #require(try store.changeovers().first { $0.database == "orders" }?.id)
            let billingID = try #require(try store.changeovers().first { $0.database == "billing" }?.id)

            // The window each database's switchover targets: the next opening `windows` prints.
            let windows = try await cli(["windows", "--database", "orders", "--count", "1", "--json"])
            let opening = try #require(
                (try JSONSerialization.jsonObject(with: Data(windows.stdout.utf8)) as? [[String: Any]])?.first)
            let pending = try await cli(["status", "pending", "--json"])
            #expect(pending.status == 0, "\(pending.stderr)")
            let object = try #require(
                try JSONSerialization.jsonObject(with: Data(pending.stdout.utf8)) as? [String: Any])
            #expect(object["schemaVersion"] as? Int == 1)
            let entries = try #require(object["changeovers"] as? [[String: Any]])
            #expect(entries.map { $0["database"] as? String } == ["billing", "orders"])
            #expect(entries.map { $0["state"] as? String } == ["scheduled", "scheduled"])
            #expect(
                entries.allSatisfy {
                    $0["windowStart"] as? String == opening["start"] as? String
                        && $0["switchMode"] as? String == "window"
                },
                "\(entries) \(opening)")
            #expect(entries.allSatisfy { $0["provisionAt"] is String })
            #expect(entries[1]["deadline"] as? String == iso(deadline) && entries[0]["deadline"] == nil, "\(entries)")
            let table = try await cli(["status", "pending"])
            let rows = table.stdout.split(separator: "\n")
            #expect(rows.first?.hasPrefix("DATABASE") == true && rows.count == 3, "\(table.stdout)")
            #expect(
                rows.contains { $0.hasPrefix("orders") && $0.contains(orders) && $0.contains(iso(deadline)) },
                "\(table.stdout)")

            // One of them ended: aborted before it began.
            #expect(try await cli(["abort", billingID, "--yes"]).status == 0)
            func listed(_ arguments: [String]) async throws -> [String] {
                let result = try await cli(["status", "--json"] + arguments)
                #expect(result.status == 0, "\(result.stderr)")
                let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
                #expect(object?["schemaVersion"] as? Int == 1)
                return (object?["changeovers"] as? [[String: Any]] ?? []).compactMap {
                    ($0["record"] as? [String: Any])?["id"] as? String
                }
            }
            #expect(Set(try await listed([])) == [orders, billingID])
            #expect(try await listed(["--state", "ended"]) == [billingID])
            #expect(try await listed(["--state", "scheduled"]) == [orders])
            #expect(try await listed(["--state", "failed"]).isEmpty)
            #expect(try await listed(["--state", "running"]).isEmpty)
            #expect(try await listed(["--database", "billing"]) == [billingID])
            #expect(try await listed(["--limit", "1"]).count == 1)
            let stillPending = try await cli(["status", "pending"])
            #expect(
                !stillPending.stdout.contains(billingID) && stillPending.stdout.contains(orders),
                "\(stillPending.stdout)")
            let one = try await cli(["status", orders, "--json"])
            let single = try JSONSerialization.jsonObject(with: Data(one.stdout.utf8)) as? [String: Any]
            #expect(
                single?["schemaVersion"] as? Int == 1 && single?["state"] as? String == "scheduled", "\(one.stdout)")

            // Bad filters are usage errors.
            let bad = try await cli(["status", "--state", "sleeping"])
            #expect(bad.status == 2)
            let unknown = try await cli(["status", "--database", "nosuch"])
            #expect(unknown.status == 2 && unknown.stderr.contains("unknown database \"nosuch\""), "\(unknown.stderr)")
        }
    }
}
