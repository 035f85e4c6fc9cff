import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// A controller whose lease is taken over stops acting: the runner against a Postgres store,
/// its lease expired behind its back (as for a controller cut off from the store) and claimed by
/// another holder mid-catch-up.
@Suite(.serialized) struct LeaseFencingTests {
    @Test func aRunnerWhoseLeaseIsTakenOverStopsAndWritesNothingMore() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let storeServer = try await scenario.lab.startPrimary(name: "store")
            let text = scenario.configText(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 60s\n      pollEvery: 50ms\n      timeout: 2m",
                extra: """
                    store: {kind: postgres, conninfo: "host=127.0.0.1 port=\(storeServer.port) user=postgres dbname=postgres", passwordEnv: LAB_PG_PASSWORD, leaseTtl: 10s}
                    """)
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let config = try scenario.config()
            let runner = ChangeoverRunner(config: config, environment: scenario.environment)
            let store = runner.store
            let run = Task { try await runner.run(database: "orders", image: "pg15-patched") }
            #expect(try await eventually { try store.changeovers().first?.machine.step == .catchUp })
            let id = try #require(try store.changeovers().first?.id)
            let held = try #require(try await store.lease(of: "orders"))
            #expect(held.lease.changeover == id && !held.released && !held.expired)

            // Expired behind its back, then claimed by another controller.
            let admin = try await scenario.lab.connect(storeServer.conninfo)
            defer { admin.close() }
            _ = try await admin.query(
                "UPDATE changeover.leases SET expires_at = clock_timestamp() - interval '1 second'",
                timeout: .seconds(5))
            let takenAt = Date()
            let taken = try #require(
                try await store.claim(database: "orders", changeover: id, holder: "another daemon", daemon: true))
            #expect(taken.token == held.lease.token + 1)

            // Its next renewal (within a third of the ttl) finds the token changed: it stops, its record
            // write is refused, and it neither releases the new holder's lease nor audits anything more.
            let began = ContinuousClock.now
            do {
                _ = try await run.value
                Issue.record("the runner went on after its lease was taken over")
            } catch {
                #expect(error is LeaseLost, "\(error)")
                #expect(String(describing: error).contains("fencing token \(held.lease.token)"), "\(error)")
            }
            #expect(ContinuousClock.now - began < .seconds(20))
            let record = try #require(try store.changeover(id))
            #expect(
                record.machine.step == .catchUp && record.stopped == nil, "the stale runner's record write went through"
            )
            let now = try #require(try await store.lease(of: "orders"))
            #expect(now.lease.token == taken.token && now.lease.holder == "another daemon" && !now.released)
            let audit = try AuditLog.read(path: config.auditLog).filter { $0.changeover == id }
            #expect(audit.allSatisfy { $0.facts["lease.token"] == String(held.lease.token) })
            #expect(
                !audit.contains { $0.time > takenAt },
                "audited after the takeover: \(audit.filter { $0.time > takenAt })")
            #expect(!audit.contains { $0.step == "fence" })
        }
    }
}
