import ChangeoverLab
import Foundation
import PostgresClient
import Synchronization
import Testing

@testable import ChangeoverCore

/// The Postgres state store against a real server the lab starts: records, and the leases that
/// keep several daemons off one database (claim, SKIP LOCKED, expiry, takeover, fencing).
@Suite(.serialized) struct PostgresStoreTests {
    /// A lab with one Postgres server for the store; `body` gets a storage factory.
    func withStoreServer(_ body: (Lab, Lab.Server) async throws -> Void) async throws {
        let lab = try Lab()
        var failure: (any Error)?
        do {
            let server = try await lab.startPrimary(name: "store")
            try await body(lab, server)
        } catch {
            failure = error
        }
        await lab.shutdown()
        if let failure { throw failure }
    }

    func storage(_ lab: Lab, _ server: Lab.Server) throws -> PostgresStateStorage {
        try PostgresStateStorage(conninfo: server.conninfo, password: lab.superuserPassword)
    }

    func record(_ id: String, database: String, step: ChangeoverStep = .catchUp, at: Date = Date()) -> ChangeoverRecord
    {
        ChangeoverRecord(
            id: id, database: database, fromImage: "pg15", toImage: "pg15-patched",
            machine: ChangeoverMachine(step: step),
            startedAt: at, updatedAt: at, facts: ["old.address": "host=127.0.0.1 port=5432"], timings: [],
            policy: SwitchPolicy(mode: .window, deadline: nil))
    }

    @Test func recordsHistoryAndNotesReadBackAsWritten() async throws {
        try await withStoreServer { lab, server in
            // Two stores opening a new schema at once: both succeed.
            async let first = Task.detached { try self.storage(lab, server) }.value
            async let second = Task.detached { try self.storage(lab, server) }.value
            let (a, b) = try await (first, second)
            let store = StateStore(directory: "\(lab.root)/state", storage: a)

            let older = record("orders-1", database: "orders", at: Date(timeIntervalSince1970: 1_800_000_000))
            var newer = record("billing-1", database: "billing", at: Date(timeIntervalSince1970: 1_800_000_100))
            try store.save(older)
            try store.save(newer, sync: false)
            #expect(try store.changeover("orders-1") == older)
            #expect(try b.changeovers().map(\.id) == ["billing-1", "orders-1"])
            // The stamps read back exactly as written (a double precision printed as text).
            #expect(
                try b.changeoverStamps() == [
                    ChangeoverStamp(id: "billing-1", updatedAt: newer.updatedAt.timeIntervalSince1970),
                    ChangeoverStamp(id: "orders-1", updatedAt: older.updatedAt.timeIntervalSince1970),
                ])
            #expect(try b.changeovers(ids: ["orders-1", "missing"]).map(\.record) == [older])
            #expect(try ChangeoverIndex().look(store).map(\.id) == ["billing-1", "orders-1"])
            #expect(try store.changeover("missing") == nil)
            // A stamp with a fraction (the record's JSON keeps whole seconds, the row the instant).
            var saved = older
            saved.updatedAt = Date(timeIntervalSince1970: 1_800_000_000.123456789)
            try store.save(saved)
            #expect(
                try b.changeoverStamps().last
                    == ChangeoverStamp(id: "orders-1", updatedAt: saved.updatedAt.timeIntervalSince1970))
            try store.save(older)

            newer.machine = ChangeoverMachine(step: .done)
            newer.timings = [
                .init(step: .fence, milliseconds: 12, outcome: "succeeded"),
                .init(step: .promote, milliseconds: 30, outcome: "succeeded"),
            ]
            try store.finish(newer, engine: "postgres")
            #expect(try b.changeover("billing-1") == newer)
            let switchovers = try store.durations(database: "billing", step: DurationSample.switchover, limit: 5)
            #expect(switchovers.map(\.milliseconds) == [42])
            #expect(try store.durations(step: "fence", limit: 5).map(\.changeover) == ["billing-1"])

            let state = DatabaseState(
                database: "orders", image: "pg15-patched", primary: "host=127.0.0.1 port=6000",
                dataDirectory: "/srv/f1", changedAt: Date(timeIntervalSince1970: 1_800_000_200), changeover: "orders-1")
            try store.save(state)
            #expect(try b.database("orders") == state)
            #expect(try b.databases() == [state])
            #expect(try store.databases() == ["orders": state])
            try a.save(
                ChangeoverNote(changeover: "orders-1", kind: .progress, text: "caught up: 0 bytes behind", at: Date()))
            #expect(store.progress(of: "orders-1") == "caught up: 0 bytes behind")
        }
    }

    @Test func oneClaimWinsAndTheOthersSkipTheRowWithoutWaiting() async throws {
        try await withStoreServer { lab, server in
            let storage = try storage(lab, server)
            // Eight holders at once on a database never claimed: exactly one gets it.
            let won = try await withThrowingTaskGroup(of: Lease?.self) { group in
                for holder in 0..<8 {
                    group.addTask {
                        try await storage.claim(
                            database: "orders", changeover: "c1", holder: "daemon \(holder)", ttl: .seconds(30),
                            daemon: true)
                    }
                }
                return try await group.reduce(into: [Lease]()) { if let lease = $1 { $0.append(lease) } }
            }
            #expect(won.count == 1)
            #expect(won.first?.token == 1)
            let state = try #require(try await storage.lease(of: "orders"))
            #expect(state.lease.holder == won.first?.holder && !state.released && !state.expired)

            // A claimer that holds the row locked (mid-claim) is skipped, not waited for, even once
            // the lease has expired.
            let expired = try #require(
                try await storage.claim(
                    database: "billing", changeover: "c2", holder: "a", ttl: .milliseconds(200), daemon: true))
            try await Task.sleep(for: .milliseconds(400))
            let other = try await lab.connect(server.conninfo)
            defer { other.close() }
            _ = try await other.query("BEGIN", timeout: .seconds(5))
            _ = try await other.query(
                "SELECT token FROM changeover.leases WHERE database_name = 'billing' FOR UPDATE", timeout: .seconds(5))
            let began = ContinuousClock.now
            #expect(
                try await storage.claim(
                    database: "billing", changeover: "c2", holder: "b", ttl: .seconds(30), daemon: true) == nil)
            #expect(ContinuousClock.now - began < .seconds(4), "the claim waited for the locked row")
            _ = try await other.query("ROLLBACK", timeout: .seconds(5))
            let taken = try #require(
                try await storage.claim(
                    database: "billing", changeover: "c2", holder: "b", ttl: .seconds(30), daemon: true))
            #expect(taken.token == expired.token + 1)
        }
    }

    @Test func anExpiredLeaseIsTakenOverAndTheStaleHolderIsFenced() async throws {
        try await withStoreServer { lab, server in
            let storage = try storage(lab, server)
            let first = try #require(
                try await storage.claim(
                    database: "orders", changeover: "c1", holder: "daemon A", ttl: .seconds(3), daemon: true))
            #expect(first.token == 1)
            // Held: another holder cannot claim it; the holder renews and writes under it.
            #expect(
                try await storage.claim(
                    database: "orders", changeover: "c1", holder: "daemon B", ttl: .seconds(3), daemon: true) == nil)
            let renewed = try #require(try await storage.renew(first, ttl: .seconds(3)))
            #expect(renewed.token == 1 && renewed.expiresAt > first.expiresAt)
            try storage.save(record("c1", database: "orders", step: .provision), durable: true, fencedBy: renewed)

            // Not renewed for a ttl: expired, abandoned, and taken over with the next token.
            try await Task.sleep(for: .milliseconds(3300))
            let abandoned = try #require(try await storage.lease(of: "orders"))
            #expect(abandoned.abandoned && abandoned.lease.daemon && abandoned.lease.changeover == "c1")
            let second = try #require(
                try await storage.claim(
                    database: "orders", changeover: "c1", holder: "daemon B", ttl: .seconds(30), daemon: true))
            #expect(second.token == 2)

            // The stale holder: its renewal and its conditional write fail, and its record is not written.
            #expect(try await storage.renew(renewed, ttl: .seconds(3)) == nil)
            #expect(throws: LeaseLost.self) {
                try storage.save(record("c1", database: "orders", step: .fence), durable: true, fencedBy: renewed)
            }
            #expect(try storage.changeover("c1")?.machine.step == .provision)
            try storage.save(record("c1", database: "orders", step: .catchUp), durable: true, fencedBy: second)
            #expect(try storage.changeover("c1")?.machine.step == .catchUp)
            // A release by the stale holder does not free the new holder's lease.
            try await storage.release(renewed)
            #expect(try await storage.lease(of: "orders")?.released == false)

            // Released: claimable at once, with the next token; the released lease is not abandoned.
            try await storage.release(second)
            let released = try #require(try await storage.lease(of: "orders"))
            #expect(released.released && !released.abandoned)
            #expect(throws: LeaseLost.self) {
                try storage.save(record("c1", database: "orders"), durable: true, fencedBy: second)
            }
            let third = try #require(
                try await storage.claim(
                    database: "orders", changeover: "c3", holder: "daemon A", ttl: .seconds(30), daemon: false))
            #expect(third.token == 3)

            // A campaign's progress is fenced the same way, by the lease on its own name.
            var campaign = Campaign(
                id: "campaign-1", image: "pg15-patched", from: nil, createdAt: Date(), createdBy: "ops", gate: nil,
                gateTimeout: .seconds(60), deadline: nil, maxParallel: nil, maxParallelPerHost: nil, maxFailures: 0,
                waves: [], leftOut: [])
            let held = try #require(
                try await storage.claim(
                    database: campaign.id, changeover: campaign.id, holder: "daemon A", ttl: .seconds(30), daemon: true)
            )
            try storage.save(campaign, fencedBy: held)
            try await storage.release(held)
            let taken = try #require(
                try await storage.claim(
                    database: campaign.id, changeover: campaign.id, holder: "daemon B", ttl: .seconds(30), daemon: true)
            )
            campaign.current = 1
            #expect(throws: LeaseLost.self) { try storage.save(campaign, fencedBy: held) }
            #expect(try storage.campaign(campaign.id)?.current == 0)
            try storage.save(campaign, fencedBy: taken)
            #expect(try storage.campaign(campaign.id)?.current == 1)
        }
    }

    @Test func aKeeperRenewsItsLeaseAndStopsItsHolderOnceItIsTakenOver() async throws {
        try await withStoreServer { lab, server in
            let storage = try storage(lab, server)
            let store = StateStore(directory: "\(lab.root)/state", storage: storage, leaseTTL: .seconds(10))
            let sent = ContinuousClock.now
            let lease = try #require(
                try await store.claim(database: "orders", changeover: "c1", holder: "daemon A", daemon: true))
            let stop = StopSignal()
            let keeper = LeaseKeeper(lease: lease, store: store, claimedAt: sent) { stop.request($0.description) }
            keeper.start()
            // Renewed every 3.3 s: held past its first ttl, nobody can claim it. (A ttl of 10 s
            // leaves a loaded machine room for slow renewals: at load 12 a store round trip
            // took seconds.)
            try await Task.sleep(for: .seconds(12))
            try keeper.check()
            #expect(
                try await store.claim(database: "orders", changeover: "c1", holder: "daemon B", daemon: true) == nil)
            #expect(keeper.lease.expiresAt > lease.expiresAt)

            // Taken over behind its back (as if it had been cut off past its ttl): its next renewal
            // finds the token changed and stops the holder; the check throws from then on.
            _ = try await storage.release(keeper.lease)
            let taken = try #require(
                try await store.claim(database: "orders", changeover: "c1", holder: "daemon B", daemon: true))
            #expect(taken.token == lease.token + 1)
            await #expect(throws: LeaseLost.self) { try await keeper.confirm() }
            #expect(stop.reason?.contains("fencing token \(lease.token)") == true)
            #expect(throws: LeaseLost.self) { try keeper.check() }
            await keeper.release()
            #expect(try await store.lease(of: "orders")?.lease.token == taken.token)
            #expect(try await store.lease(of: "orders")?.released == false)
        }
    }

    @Test func aWrongPasswordFailsInOneLineWithoutIt() async throws {
        try await withStoreServer { lab, server in
            let secret = "not-the-password-\(UUID().uuidString)"
            do {
                _ = try PostgresStateStorage(conninfo: server.conninfo, password: secret)
                Issue.record("connected with a wrong password")
            } catch {
                let text = String(describing: error)
                #expect(!text.contains(secret))
                #expect(text.contains("cannot use the state store 127.0.0.1:\(server.port)/postgres"), "\(text)")
                #expect(!text.contains("\n"))
            }
        }
    }
}
