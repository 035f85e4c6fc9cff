import ChangeoverCore
import Foundation
import Testing

@Suite struct CampaignWaveTests {
    @Test func parsesTiersSharesAndSamples() throws {
        let waves = try CampaignWave.parse("staging, canary:5%,production:10%,production")
        #expect(
            waves == [
                CampaignWave(name: "staging"), CampaignWave(name: "canary", share: 5),
                CampaignWave(name: "production", share: 10), CampaignWave(name: "production"),
            ])
        #expect(waves.map(\.text) == ["staging", "canary:5%", "production:10%", "production"])
        #expect(try CampaignWave.parse("canary:0.5%").first?.share == 0.5)
    }

    @Test(arguments: [
        ("", "--waves is empty"),
        ("staging,,production", "wave 2 is empty"),
        ("staging,canary:5", "share \"5\", which is not a percentage"),
        ("canary:abc%", "not a percentage"),
        ("canary:0%", "outside 0% (excluded) to 100%"),
        ("canary:150%", "outside 0% (excluded) to 100%"),
        ("stag ing", "bad wave name \"stag ing\""),
        ("production,production:5%", "comes again after a wave production that takes all of it"),
    ])
    func malformedWavesNameTheBadPart(text: String, message: String) {
        #expect {
            try CampaignWave.parse(text)
        } throws: { error in
            let description = String(describing: error)
            return description.contains(message) && !description.contains("\n")
        }
    }
}

@Suite struct CampaignPlannerTests {
    static let now = utc("2026-12-01T08:00:00Z")  // a Tuesday
    static let daily = try! [
        "mon", "tue", "wed", "thu", "fri", "sat", "sun",
    ].map { try MaintenanceWindow.parse("\($0):22:00-\($0):23:00") }

    static func entry(
        _ name: String, tier: String?, image: String = "old", host: String = "h1",
        windows: [MaintenanceWindow] = daily
    ) -> CampaignEntry {
        CampaignEntry(
            database: name, engine: .postgres, image: image, tier: tier, host: host,
            schedule: WindowSchedule(windows: windows), needed: .seconds(60))
    }

    static var fleet: [CampaignEntry] {
        (1...3).map { entry("stage\($0)", tier: "staging") }
            + (1...40).map { entry("prod\($0)", tier: "production", host: "h\($0 % 4)") }
            + [
                entry("done1", tier: "production", image: "new"), entry("other1", tier: "production", image: "older"),
                entry("lab1", tier: "lab"), entry("bare1", tier: nil),
            ]
    }

    /// One image for the whole fleet: a database of the other engine is left out, named as such,
    /// and never put in a wave bound for an image it cannot run.
    @Test func aDatabaseOfAnotherEngineIsLeftOutOfTheImagesWaves() throws {
        var cache = Self.entry("cache1", tier: "staging", image: "redis7")
        cache.engine = .redis
        let plan = try CampaignPlanner.plan(
            entries: [Self.entry("stage1", tier: "staging"), cache], waves: CampaignWave.parse("staging"),
            image: "new", now: Self.now, margin: .seconds(600)
        ) { $0 == "new" ? .postgres : nil }
        #expect(plan.waves.flatMap(\.members).map(\.database) == ["stage1"])
        #expect(
            plan.skipped.map { "\($0.database): \($0.reason)" } == [
                "cache1: engine: new is a postgres image, the database runs redis"
            ])

        // The image's engine, as the config tells it: by the databases on it, else by its binaries.
        let config = try FleetConfig.parse(
            """
            provisioner: {root: /tmp/nodes}
            images:
              pg15: {binDirectory: /usr/lib/postgresql/15/bin}
              pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
              redis7: {binDirectory: /usr/bin}
              redis7-patched: {binDirectory: /usr/bin}
              bare: {binDirectory: /nonexistent}
            databases:
              orders: {image: pg15, primary: "host=h port=5432"}
              cache: {engine: redis, image: redis7, primary: "h:6379"}
            """)
        #expect(config.engine(ofImage: "pg15") == .postgres && config.engine(ofImage: "redis7") == .redis)
        #expect(
            config.engine(ofImage: "pg15-patched") == .postgres && config.engine(ofImage: "redis7-patched") == .redis)
        #expect(config.engine(ofImage: "bare") == nil)
    }

    @Test func wavesFollowTiersAndTheSampleComesOutOfTheLaterWaves() throws {
        let plan = try CampaignPlanner.plan(
            entries: Self.fleet, waves: CampaignWave.parse("staging,canary:5%,production"),
            image: "new", from: "old", now: Self.now, margin: .seconds(600))
        #expect(plan.waves.map(\.wave.name) == ["staging", "canary", "production"])
        #expect(plan.waves[0].members.map(\.database).sorted() == ["stage1", "stage2", "stage3"])
        // 5% of 40, rounded up: 2 production databases go first, and not again.
        #expect(plan.waves[1].members.count == 2)
        #expect(plan.waves[1].members.allSatisfy { $0.tier == "production" })
        #expect(plan.waves[2].members.count == 38)
        let all = plan.waves.flatMap(\.members).map(\.database)
        #expect(Set(all).count == all.count && all.count == 43)
        #expect(plan.skipped.map(\.database) == ["bare1", "done1", "lab1", "other1"])
        #expect(plan.skipped.first { $0.database == "done1" }?.reason == "already on new")
        #expect(plan.skipped.first { $0.database == "other1" }?.reason == "on older, not old")
        #expect(plan.skipped.first { $0.database == "lab1" }?.reason == "tier lab is in no wave")
        #expect(plan.skipped.first { $0.database == "bare1" }?.reason == "it has no tier label")
    }

    @Test func eachWaveStartsAfterThePreviousIsExpectedDone() throws {
        let plan = try CampaignPlanner.plan(
            entries: Self.fleet, waves: CampaignWave.parse("staging,canary:5%,production"),
            image: "new", now: Self.now, margin: .seconds(600))
        // Staging switches in tonight's window, the canary the next night, production the night after.
        #expect(plan.waves[0].members.allSatisfy { $0.opening?.start == utc("2026-12-01T22:00:00Z") })
        #expect(plan.waves[1].notBefore == utc("2026-12-01T22:01:00Z"))
        #expect(plan.waves[1].members.allSatisfy { $0.opening?.start == utc("2026-12-01T22:01:00Z") })
        #expect(plan.waves[2].notBefore == utc("2026-12-01T22:02:00Z"))
        #expect(plan.waves[2].members.allSatisfy { $0.opening?.start == utc("2026-12-01T22:02:00Z") })
        #expect(plan.expectedEnd == utc("2026-12-01T22:03:00Z"))
        // Members of a wave are ordered by their window.
        let tight = try CampaignPlanner.plan(
            entries: [
                Self.entry("late", tier: "t", windows: [try MaintenanceWindow.parse("sat:10:00-sat:11:00")]),
                Self.entry("early", tier: "t", windows: [try MaintenanceWindow.parse("wed:10:00-wed:11:00")]),
            ],
            waves: CampaignWave.parse("t"), image: "new", now: Self.now, margin: .seconds(600))
        #expect(tight.waves[0].members.map(\.database) == ["early", "late"])
    }

    @Test func aShareOfATierLeavesTheRestToALaterWaveOfIt() throws {
        let plan = try CampaignPlanner.plan(
            entries: Self.fleet, waves: CampaignWave.parse("production:10%,production"),
            image: "new", from: "old", now: Self.now, margin: .seconds(600))
        #expect(plan.waves.map { $0.members.count } == [4, 36])
        #expect(plan.skipped.contains { $0.database == "stage1" && $0.reason == "tier staging is in no wave" })
    }

    @Test func theSampleIsTheSameOnEveryRunAndSpreadOverHosts() throws {
        let waves = try CampaignWave.parse("canary:10%,production")
        let one = try CampaignPlanner.plan(
            entries: Self.fleet, waves: waves, image: "new", now: Self.now, margin: .seconds(600))
        let two = try CampaignPlanner.plan(
            entries: Self.fleet.reversed(), waves: waves, image: "new", now: Self.now, margin: .seconds(600))
        #expect(one.waves[0].members.map(\.database) == two.waves[0].members.map(\.database))
        #expect(Set(one.waves[0].members.map(\.host)).count > 1)
        #expect(one.waves[0].members.map(\.database) != ["prod1", "prod10", "prod11", "prod12"])
    }

    @Test func aDeadlineForcesWhatNoWindowFitsBefore() throws {
        let weekly = [try MaintenanceWindow.parse("sun:22:00-sun:23:00")]
        let entries = [Self.entry("a", tier: "t", windows: weekly), Self.entry("b", tier: "t", windows: [])]
        let deadline = utc("2026-12-03T12:00:00Z")
        let plan = try CampaignPlanner.plan(
            entries: entries, waves: CampaignWave.parse("t"), image: "new", now: Self.now,
            margin: .seconds(600), deadline: deadline)
        #expect(plan.waves[0].members.map(\.forcedAt) == [deadline, deadline])
        #expect(plan.waves[0].members.allSatisfy { $0.opening == nil })
        let open = try CampaignPlanner.plan(
            entries: entries, waves: CampaignWave.parse("t"), image: "new", now: Self.now,
            margin: .seconds(600))
        #expect(open.waves[0].members.first { $0.database == "a" }?.opening?.start == utc("2026-12-06T22:00:00Z"))
        #expect(open.waves[0].members.first { $0.database == "b" }?.opening == nil)
        #expect(open.waves[0].expectedEnd == nil, "a member without a window leaves the wave's end unknown")
    }

    @Test func aWaveThatNamesNoTierAndTakesAllIsAnError() throws {
        #expect {
            try CampaignPlanner.plan(
                entries: Self.fleet, waves: CampaignWave.parse("staging,prod"), image: "new",
                now: Self.now, margin: .seconds(600))
        } throws: { error in
            String(describing: error).contains(
                "wave prod names no tier of the inventory (tiers: lab, production, staging)")
        }
    }
}
