import ChangeoverCore
import Foundation
import Synchronization
import Testing

/// The audit log's rule under a concurrent reader: a record is written before the store write it
/// authorises, so whoever reads the store (a daemon polling it in a tight loop) never acts on a
/// change that the audit log does not already hold. Real SQLite store, real audit log; a
/// poller on a thread of its own stands in for the daemon's look.
@Suite(.serialized) struct AuditOrderTests {
    /// Runs `poll` over and over on a thread of its own until `body` returns.
    static func whilePolling(_ poll: @escaping @Sendable () async -> Void, _ body: () async throws -> Void)
        async rethrows
    {
        let stop = Mutex(false)
        let poller = Task.detached {
            while !stop.withLock({ $0 }) { await poll() }
        }
        defer { stop.withLock { $0 = true } }
        try await body()
        stop.withLock { $0 = true }
        await poller.value
    }

    static func eventually(within limit: Duration = .seconds(30), _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    /// Issue 14's first must-show: 50 campaigns started while a driver looks at the store in a
    /// tight loop; for each, `started` comes before any record the driver wrote about it.
    @Test func aCampaignsStartedRecordComesBeforeAnyWaveRecordWhileADriverPolls() async throws {
        let fleet = try CampaignDriverTests.Fleet()
        defer { fleet.remove() }
        let driver = fleet.driver
        let operations = CampaignOperations(store: fleet.store, journal: fleet.runner.journal)
        var ids: [String] = []
        try await Self.whilePolling(
            { await driver.tick() },
            {
                for index in 0..<50 {
                    var campaign = try fleet.campaign(waves: "staging,production", gate: "true")
                    // Ids made within one second may share a stamp.
                    campaign.id = "campaign-order-\(index)"
                    try operations.start(campaign, waves: "staging,production")
                    ids.append(campaign.id)
                    // Give the poller a look at each one before the next is recorded.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...8)))
                }
                // The driver saw them: each has its first wave begun.
                let store = fleet.store
                #expect(
                    await Self.eventually {
                        ids.allSatisfy { id in (try? store.campaign(id))?.waves[0].startedAt != nil }
                    })
            })
        let records = try AuditLog.read(path: fleet.config.auditLog)
        #expect(AuditLog.verify(path: fleet.config.auditLog).isIntact)
        for id in ids {
            let outcomes = records.filter { $0.changeover == id }.map(\.outcome)
            #expect(outcomes.first == "started" && outcomes.contains("wave-started"), "\(id): \(outcomes)")
        }
    }

    /// The operator's word on a campaign (pause, abort) and a scheduled changeover are in the
    /// audit log whenever a reader can see them in the store.
    @Test func whatAReaderSeesInTheStoreIsAlreadyInTheAuditLog() async throws {
        let fleet = try CampaignDriverTests.Fleet()
        defer { fleet.remove() }
        let store = fleet.store
        let auditLog = fleet.config.auditLog
        let unaudited = Mutex<[String]>([])
        let seen = Mutex(0)
        // What the store holds, then what the log holds: anything in the store must be in the log.
        let look: @Sendable () async -> Void = {
            guard let campaigns = try? store.campaigns(), let changeovers = try? store.changeovers() else { return }
            guard let records = try? AuditLog.read(path: auditLog) else { return }
            let keys = Set(records.map { "\($0.changeover) \($0.outcome)" })
            var missing: [String] = []
            for campaign in campaigns {
                if !keys.contains("\(campaign.id) started") { missing.append("\(campaign.id) started") }
                let word = campaign.control.command
                if word != .run, !keys.contains("\(campaign.id) \(word.rawValue)-requested") {
                    missing.append("\(campaign.id) \(word.rawValue)-requested")
                }
            }
            for changeover in changeovers where !keys.contains("\(changeover.id) recorded") {
                missing.append("\(changeover.id) recorded")
            }
            seen.withLock { $0 += campaigns.count + changeovers.count }
            if !missing.isEmpty { unaudited.withLock { $0.append(contentsOf: missing) } }
        }
        let runner = fleet.runner
        let operations = CampaignOperations(store: store, journal: runner.journal)
        try await Self.whilePolling(look) {
            for round in 0..<20 {
                var campaign = try fleet.campaign(waves: "staging,production", gate: nil)
                campaign.id = "campaign-seen-\(round)"
                try operations.start(campaign, waves: "staging,production")
                _ = try operations.control(round.isMultiple(of: 2) ? .pause : .abort, of: campaign.id)
                let database = ["s1", "s2", "p1", "p2", "p3", "p4"][round % 6]
                if try store.changeovers(database: database).allSatisfy({ !$0.machine.canContinue }) {
                    _ = try runner.schedule(
                        database: database, image: "pg15-patched", policy: SwitchPolicy(mode: .window, deadline: nil),
                        source: "test")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        #expect(seen.withLock { $0 } > 0, "the reader never looked")
        #expect(
            unaudited.withLock { $0 }.isEmpty,
            "in the store before the audit log: \(unaudited.withLock { $0 }.prefix(5))")
    }

    /// Scheduling in batches (one audit sync per batch): while a reader polls the store, every
    /// scheduled changeover it sees already has its `schedule recorded` audit record; a database
    /// with a changeover under way is refused and nothing is written for it.
    @Test func aBatchOfScheduledChangeoversIsAuditedBeforeTheStoreHoldsAny() async throws {
        let fleet = try CampaignDriverTests.Fleet()
        defer { fleet.remove() }
        let runner = fleet.runner
        let store = fleet.store
        let auditLog = fleet.config.auditLog
        _ = try runner.schedule(
            database: "p4", image: "pg15-patched", policy: SwitchPolicy(mode: .window), source: "test")
        let unaudited = Mutex<[String]>([])
        let poll: @Sendable () async -> Void = {
            // The store first, then the log: what the store held must be in the log read after it.
            let seen = ((try? store.changeovers()) ?? []).map(\.id)
            let audited = Set(
                ((try? AuditLog.read(path: auditLog)) ?? []).filter {
                    $0.step == "schedule" && $0.outcome == "recorded"
                }.map(\.changeover))
            unaudited.withLock { $0 += seen.filter { !audited.contains($0) } }
        }
        try await Self.whilePolling(poll) {
            let requests = ["s1", "s2", "p1", "p2", "p3", "p4"].map {
                ChangeoverRunner.ScheduleRequest(
                    database: $0, image: "pg15-patched", policy: SwitchPolicy(mode: .window))
            }
            let results = runner.schedule(batch: requests, source: "test batch")
            #expect(results.filter { if case .success = $0 { true } else { false } }.count == 5)
            if case .failure(let error) = results[5] {
                #expect("\(error)".contains("already has changeover"))
            } else {
                Issue.record("p4 was scheduled twice")
            }
        }
        #expect(
            unaudited.withLock { $0 }.isEmpty,
            "seen in the store before their audit record: \(unaudited.withLock { $0 })")
        let records = try AuditLog.read(path: auditLog).filter { $0.message?.isEmpty == false && $0.step == "schedule" }
        #expect(records.count == 6)
        #expect(try store.changeovers().filter { $0.machine.step == .pending }.count == 6)
        #expect(AuditLog.verify(path: auditLog).isIntact)
    }

    /// The inventory's changes: while a reader polls the store's inventory, every database it
    /// sees there already has its `inventory added` (or `replaced`) audit record.
    @Test func anInventoryDatabaseIsAuditedBeforeTheStoreHoldsIt() async throws {
        let fleet = try CampaignDriverTests.Fleet()
        defer { fleet.remove() }
        let store = fleet.store
        let auditLog = fleet.config.auditLog
        let operations = InventoryOperations(config: fleet.config, configFile: "fleet.yaml")
        let unaudited = Mutex<[String]>([])
        let seen = Mutex(0)
        let poll: @Sendable () async -> Void = {
            // The store first, then the log: what the store held must be in the log read after it.
            let names = ((try? store.inventory()) ?? []).map(\.name)
            let audited = Set(
                ((try? AuditLog.read(path: auditLog)) ?? []).filter {
                    $0.step == "inventory" && ($0.outcome == "added" || $0.outcome == "replaced")
                }.map(\.database))
            seen.withLock { $0 += names.count }
            unaudited.withLock { $0 += names.filter { !audited.contains($0) } }
        }
        let stanza = "image: pg15\nprimary: \"host=h9 port=5432 user=postgres dbname=postgres\"\n"
        try await Self.whilePolling(poll) {
            for index in 0..<30 {
                let added = try operations.add(name: "inv-\(index)", stanza: stanza, replace: false)
                #expect(added.change == .added)
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...4)))
            }
            _ = try operations.import(
                (30..<40).map { ("inv-\($0)", stanza) } + [("inv-0", stanza)], source: "test", replace: true)
            try operations.remove(name: "inv-1")
        }
        #expect(seen.withLock { $0 } > 0, "the reader never looked")
        #expect(
            unaudited.withLock { $0 }.isEmpty,
            "in the inventory before the audit log: \(unaudited.withLock { $0 }.prefix(5))")
        #expect(try store.inventory().count == 39)
        let records = try AuditLog.read(path: auditLog).filter { $0.step == "inventory" }
        #expect(records.map(\.outcome).filter { $0 == "added" }.count == 40)
        #expect(records.contains { $0.database == "inv-0" && $0.outcome == "replaced" })
        #expect(records.last?.database == "inv-1" && records.last?.outcome == "removed")
        #expect(AuditLog.verify(path: auditLog).isIntact)
    }
}
