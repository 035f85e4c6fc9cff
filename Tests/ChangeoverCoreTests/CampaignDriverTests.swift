import ChangeoverCore
import Foundation
import Testing

/// The campaign driver's rules against a real SQLite store: what it schedules when, its gates,
/// its failure threshold, pause, resume and abort. No changeover runs here: a test ends the
/// changeovers the driver scheduled by writing their records as a controller would, which is
/// all the driver reads. (The integration suite runs whole campaigns on real servers.)
@Suite(.serialized) struct CampaignDriverTests {
    struct Fleet {
        let directory: String
        let config: FleetConfig
        var runner: ChangeoverRunner { ChangeoverRunner(config: config) }
        var store: StateStore { StateStore(config: config) }
        var driver: CampaignDriver { CampaignDriver(runner: runner) }
        var gateLog: String { "\(directory)/gate.log" }

        /// Databases `s1 s2` (staging), `p1…p4` (production, p3 and p4 on host h2).
        init() throws {
            directory =
                FileManager.default.temporaryDirectory.appendingPathComponent("campaign-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let databases = [
                ("s1", "staging", "h1"), ("s2", "staging", "h1"), ("p1", "production", "h1"),
                ("p2", "production", "h1"),
                ("p3", "production", "h2"), ("p4", "production", "h2"),
            ]
            config = try FleetConfig.parse(
                """
                stateDirectory: \(directory)/state
                provisioner: {root: \(directory)/nodes}
                images:
                  pg15: {binDirectory: /usr/lib/postgresql/15/bin}
                  pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
                databases:
                \(databases.map { name, tier, host in """
                  \(name):
                    image: pg15
                    primary: "host=\(host) port=5432 user=postgres dbname=postgres"
                    labels: {tier: \(tier)}
                    windows: ["mon:00:00-sun:23:59"]
                """ }.joined(separator: "\n"))
                """)
        }

        func start(
            waves: String = "staging,production", gate: String? = nil, maxParallel: Int? = nil, perHost: Int? = nil,
            maxFailures: Int = 0
        ) throws -> Campaign {
            let campaign = try self.campaign(
                waves: waves, gate: gate, maxParallel: maxParallel, perHost: perHost, maxFailures: maxFailures)
            try store.save(campaign)
            return campaign
        }

        /// A campaign as `campaign start` plans it, not yet recorded.
        func campaign(waves: String, gate: String?, maxParallel: Int? = nil, perHost: Int? = nil, maxFailures: Int = 0)
            throws -> Campaign
        {
            let plan = try CampaignPlanner.plan(
                entries: try CampaignEntry.inventory(config: config, store: store),
                waves: try CampaignWave.parse(waves), image: "pg15-patched", now: Date(),
                margin: .seconds(60))
            let campaign = Campaign(
                id: Campaign.newID(at: Date()), plan: plan, image: "pg15-patched", from: nil, at: Date(), by: "test",
                gate: gate, gateTimeout: .seconds(10), deadline: nil, maxParallel: maxParallel,
                maxParallelPerHost: perHost, maxFailures: maxFailures)
            return campaign
        }

        func look(_ id: String) async throws -> Campaign {
            try await driver.look(at: id)
            return try #require(try store.campaign(id))
        }

        /// Ends a scheduled changeover as a controller would: `done` records the new image.
        func end(_ database: String, _ step: ChangeoverStep) throws {
            var record = try #require(
                try store.changeovers().first { $0.database == database && $0.machine.canContinue })
            record.machine = ChangeoverMachine(
                step: step, failure: step == .done ? nil : "the follower did not catch up")
            try store.save(record)
            if step == .done {
                try store.save(
                    DatabaseState(
                        database: database, primary: "host=new port=5432", image: record.toImage,
                        changeover: record.id, changedAt: Date()))
            }
        }

        func scheduled(_ campaign: Campaign) -> Set<String> {
            Set(campaign.members.filter(\.inFlight).map(\.database))
        }

        func control(_ command: Campaign.Control.Command, _ id: String) throws {
            // After the driver's last halt, whatever the clock's resolution.
            _ = try store.setControl(
                Campaign.Control(command: command, at: Date().addingTimeInterval(0.01), by: "operator"), of: id)
        }

        func audit(_ id: String) throws -> [String] {
            try AuditLog.read(path: config.auditLog).filter { $0.changeover == id && $0.step == "campaign" }.map(
                \.outcome)
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func wavesGoInOrderWithTheGateBetweenAndTheCampaignCompletes() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let started = try fleet.start(
            gate:
                "echo \"$CHANGEOVER_WAVE $CHANGEOVER_WAVE_NUMBER/$CHANGEOVER_WAVES $CHANGEOVER_DATABASES\" >> \(fleet.gateLog)"
        )
        var campaign = try await fleet.look(started.id)
        #expect(fleet.scheduled(campaign) == ["s1", "s2"], "only staging is scheduled first")
        let records = try fleet.store.changeovers()
        #expect(
            records.allSatisfy {
                $0.facts["campaign"] == started.id && $0.policy?.mode == .window && $0.toImage == "pg15-patched"
            })

        try fleet.end("s1", .done)
        campaign = try await fleet.look(started.id)
        #expect(fleet.scheduled(campaign) == ["s2"] && !FileManager.default.fileExists(atPath: fleet.gateLog))
        try fleet.end("s2", .done)
        campaign = try await fleet.look(started.id)
        #expect(try String(contentsOfFile: fleet.gateLog, encoding: .utf8) == "staging 1/2 s1 s2\n")
        #expect(fleet.scheduled(campaign) == ["p1", "p2", "p3", "p4"] && campaign.current == 1)
        for name in ["p1", "p2", "p3", "p4"] { try fleet.end(name, .done) }
        campaign = try await fleet.look(started.id)
        #expect(campaign.state == .completed && campaign.members.allSatisfy { $0.outcome == .done })
        #expect(try String(contentsOfFile: fleet.gateLog, encoding: .utf8).hasSuffix("production 2/2 p1 p2 p3 p4\n"))
        #expect(
            try fleet.audit(started.id) == ["wave-started", "gate-passed", "wave-started", "gate-passed", "completed"])
    }

    @Test func aFailingGateHaltsBeforeTheNextWaveAndResumeRunsItAgain() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let flag = "\(fleet.directory)/tests-pass"
        let started = try fleet.start(
            gate: "echo checking; test -e \(flag) || { echo 'smoke test failed: p99 latency 900ms' >&2; exit 3; }")
        _ = try await fleet.look(started.id)
        for name in ["s1", "s2"] { try fleet.end(name, .done) }
        var campaign = try await fleet.look(started.id)
        #expect(campaign.state == .halted && campaign.halt?.kind == .gate && campaign.current == 0)
        #expect(
            campaign.halt?.reason.contains("exited with status 3: smoke test failed: p99 latency 900ms") == true,
            "\(campaign.halt?.reason ?? "")")
        #expect(campaign.waves[0].gates.last?.output == "checking\nsmoke test failed: p99 latency 900ms")
        #expect(fleet.scheduled(campaign).isEmpty, "the next wave began after a failed gate")
        campaign = try await fleet.look(started.id)
        #expect(campaign.waves[0].gates.count == 1, "a halted campaign ran its gate again without a resume")

        FileManager.default.createFile(atPath: flag, contents: nil)
        try fleet.control(.run, started.id)
        campaign = try await fleet.look(started.id)
        #expect(
            campaign.halt == nil && campaign.state == .running
                && campaign.waves[0].gates.map(\.passed) == [false, true])
        #expect(fleet.scheduled(campaign).count == 4)
        #expect(
            try fleet.audit(started.id) == [
                "wave-started", "gate-failed", "halted", "resumed", "gate-passed", "wave-started",
            ])
    }

    @Test func moreFailuresThanAllowedHaltAndResumeAcknowledgesThem() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let started = try fleet.start(waves: "production", maxFailures: 1)
        _ = try await fleet.look(started.id)
        try fleet.end("p1", .aborted)
        var campaign = try await fleet.look(started.id)
        #expect(campaign.state == .running && campaign.failures == 1)
        try fleet.end("p2", .failed)
        campaign = try await fleet.look(started.id)
        #expect(campaign.state == .halted && campaign.halt?.kind == .failures)
        #expect(
            campaign.halt?.reason.contains(
                "2 failed changeover(s), more than --max-failures 1: p1 (aborted: the follower did not catch up), p2 (failed"
            ) == true,
            "\(campaign.halt?.reason ?? "")")
        #expect(!campaign.letsChangeoversStart && campaign.effectiveState == "halted")

        try fleet.control(.run, started.id)
        campaign = try await fleet.look(started.id)
        #expect(campaign.state == .running && campaign.forgivenFailures == 2 && campaign.letsChangeoversStart)
        for name in ["p3", "p4"] { try fleet.end(name, .done) }
        campaign = try await fleet.look(started.id)
        #expect(campaign.state == .completed && campaign.failures == 2)
    }

    @Test func parallelismIsBoundedOverallAndPerHost() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let started = try fleet.start(waves: "production", maxParallel: 3, perHost: 1)
        var campaign = try await fleet.look(started.id)
        // One per host: one of h1's (p1, p2) and one of h2's (p3, p4).
        #expect(campaign.members.filter(\.inFlight).map(\.host).sorted() == ["h1", "h2"])
        let first = fleet.scheduled(campaign)
        for name in first { try fleet.end(name, .done) }
        campaign = try await fleet.look(started.id)
        #expect(fleet.scheduled(campaign).count == 2 && fleet.scheduled(campaign).isDisjoint(with: first))

        let wide = try Fleet()
        defer { wide.remove() }
        let three = try wide.start(waves: "production", maxParallel: 3)
        #expect(wide.scheduled(try await wide.look(three.id)).count == 3)
    }

    @Test func pauseStartsNothingAndAbortCancelsWhatHasNotStarted() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let started = try fleet.start()
        _ = try await fleet.look(started.id)
        try fleet.control(.pause, started.id)
        try fleet.end("s1", .done)
        try fleet.end("s2", .done)
        var campaign = try await fleet.look(started.id)
        #expect(campaign.effectiveState == "paused" && !campaign.letsChangeoversStart)
        #expect(fleet.scheduled(campaign).isEmpty && campaign.current == 0, "a paused campaign began its next wave")

        try fleet.control(.run, started.id)
        campaign = try await fleet.look(started.id)
        #expect(fleet.scheduled(campaign).count == 4)
        // p1 has begun (a controller holds it past pending): the abort leaves it to go on.
        var p1 = try #require(try fleet.store.changeovers().first { $0.database == "p1" })
        p1.machine = ChangeoverMachine(step: .catchUp)
        try fleet.store.save(p1)
        try fleet.control(.abort, started.id)
        campaign = try await fleet.look(started.id)
        #expect(campaign.state == .aborted && campaign.isFinished)
        let steps = Dictionary(
            try fleet.store.changeovers().filter { $0.database.hasPrefix("p") }.map { ($0.database, $0.machine.step) }
        ) { a, _ in a }
        #expect(steps == ["p1": .catchUp, "p2": .aborted, "p3": .aborted, "p4": .aborted])
        #expect(try fleet.audit(started.id).last == "aborted")
    }

    @Test func aDatabaseAlreadyOnTheImageIsSkippedAndOneUnderWayToItIsAdopted() async throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let started = try fleet.start()
        try fleet.store.save(
            DatabaseState(
                database: "s1", primary: "host=x port=5432", image: "pg15-patched", changeover: "by-hand",
                changedAt: Date()))
        let byHand = try fleet.runner.schedule(
            database: "s2", image: "pg15-patched", policy: SwitchPolicy(mode: .window), source: "by hand")
        let campaign = try await fleet.look(started.id)
        #expect(campaign.waves[0].members.map(\.outcome) == [.skipped, nil])
        #expect(campaign.waves[0].members[0].note == "already on pg15-patched")
        #expect(campaign.waves[0].members[1].changeover == byHand.id)
    }
}
