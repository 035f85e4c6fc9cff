import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

/// Campaigns run by the built daemon on real local servers: Postgres and Redis primaries,
/// followers made by the local provisioner, windows opening seconds after the start.
///
/// `CHANGEOVER_REPEAT=N` runs each test N times in a row in one process (default once): the
/// audit order these tests check must not depend on timing (`AuditOrderTests` shows why it does not).
@Suite(.serialized) struct CampaignTests {
    static let repetitions = Array(1...max(1, Int(ProcessInfo.processInfo.environment["CHANGEOVER_REPEAT"] ?? "") ?? 1))

    /// Issue 7's first must-show: twenty databases (ten Postgres, ten Redis) in three tiers;
    /// the campaign finishes staging before canary before production, runs the gate between
    /// the waves, and ends with every database on the new image and no acknowledged write lost.
    @Test(arguments: repetitions) func twentyDatabasesChangeOverWaveByWaveWithTheGateBetween(repetition: Int)
        async throws
    {
        let tiers = ["staging": 4, "canary": 4, "production": 12]
        try await withCampaignFleet(postgres: 10, redis: 10, tiers: tiers, writers: ["pg-01", "pg-10", "redis-10"]) {
            fleet in
            let gateLog = "\(fleet.lab.root)/gate.log"
            let daemon = try await fleet.startDaemon("a", concurrency: 6)
            defer { daemon.kill9() }
            let start = try await fleet.cli([
                "campaign", "start", "--image", "pg15=pg15-patched,redis7=redis7-patched", "--waves",
                "staging,canary,production",
                "--gate", "echo \"$CHANGEOVER_WAVE $(date +%s.%N) $CHANGEOVER_DATABASES\" >> \(gateLog)",
                "--json",
            ])
            #expect(start.status == 0, "\(start.stderr)")
            let id = try #require(try fleet.campaignID(start.stdout))

            try await fleet.expectEventually(.seconds(400), "the campaign did not finish", id, daemon) {
                try fleet.campaign(id)?.isFinished == true
            }
            let campaign = try #require(try fleet.campaign(id))
            #expect(
                campaign.state == .completed && campaign.members.count == 20
                    && campaign.members.allSatisfy { $0.outcome == .done },
                "\(campaign.members.map { "\($0.database) \($0.outcome?.rawValue ?? "-") \($0.note ?? "")" })")
            #expect(try await daemon.terminate() == 0)

            // Every database runs the new image.
            for database in fleet.databases {
                #expect(try fleet.store.database(database.name)?.image == database.patched, "\(database.name)")
            }
            // The gate ran after each wave, in order, told that wave's databases.
            let gates = try String(contentsOfFile: gateLog, encoding: .utf8).split(separator: "\n").map {
                $0.split(separator: " ").map(String.init)
            }
            #expect(gates.map { $0[0] } == ["staging", "canary", "production"])
            for (index, wave) in campaign.waves.enumerated() {
                #expect(Set(gates[index].dropFirst(2)) == Set(wave.members.map(\.database)))
                #expect(
                    Set(wave.members.map(\.database))
                        == Set(fleet.databases.filter { $0.tier == wave.wave.name }.map(\.name)))
            }
            // Wave by wave: everything a wave's changeovers audited comes before its gate passed,
            // and everything the next wave's audited comes after.
            let audit = try AuditLog.read(path: fleet.config.auditLog)
            #expect(AuditLog.verify(path: fleet.config.auditLog).isIntact)
            let passed = audit.filter { $0.changeover == id && $0.outcome == "gate-passed" }
            #expect(passed.map { $0.facts["wave"] } == ["staging", "canary", "production"])
            for (index, wave) in campaign.waves.enumerated() {
                let ids = Set(wave.members.compactMap(\.changeover))
                let times = audit.filter { ids.contains($0.changeover) }.map(\.time)
                #expect(times.max()! <= passed[index].time, "wave \(wave.wave.name) audited after its gate")
                if index > 0 {
                    #expect(
                        times.min()! >= passed[index - 1].time,
                        "wave \(wave.wave.name) began before the gate of the wave before")
                }
            }
            // No acknowledged write lost where a writer ran.
            try await fleet.expectNoWriteLost()
        }
    }

    /// Issue 7's second must-show: a failing gate stops the campaign before the next wave; once
    /// fixed, `campaign resume` runs the gate again and the campaign goes on to its end.
    @Test(arguments: repetitions) func aFailingGateStopsTheCampaignUntilResumed(repetition: Int) async throws {
        try await withCampaignFleet(
            postgres: 1, redis: 2, tiers: ["staging": 1, "production": 2], writers: ["redis-02"]
        ) { fleet in
            let fixed = "\(fleet.lab.root)/fixed"
            let daemon = try await fleet.startDaemon("a", concurrency: 4)
            defer { daemon.kill9() }
            let start = try await fleet.cli([
                "campaign", "start", "--image", "pg15=pg15-patched,redis7=redis7-patched", "--waves",
                "staging,production",
                "--gate", "test -e \(fixed) || { echo 'smoke test: checkout p99 910ms' >&2; exit 4; }", "--json",
            ])
            #expect(start.status == 0, "\(start.stderr)")
            let id = try #require(try fleet.campaignID(start.stdout))

            try await fleet.expectEventually(.seconds(200), "the campaign did not halt", id, daemon) {
                try fleet.campaign(id)?.state == .halted
            }
            let halted = try #require(try fleet.campaign(id))
            #expect(halted.halt?.kind == .gate && halted.current == 0)
            let status = try await fleet.statusText(id)
            #expect(
                status.contains(
                    "halted: the gate after wave staging exited with status 4: smoke test: checkout p99 910ms"),
                "\(status)")
            // The daemon's endpoints say the same.
            let shown = try #require(
                (try await daemon.status()["campaigns"] as? [[String: Any]])?.first { $0["id"] as? String == id })
            let waves = shown["waves"] as? [[String: Any]] ?? []
            #expect(
                shown["state"] as? String == "halted" && shown["currentWave"] as? String == "staging"
                    && waves.count == 2, "\(shown)")
            #expect(
                shown["done"] as? Int == 1 && shown["total"] as? Int == 3 && shown["failures"] as? Int == 0, "\(shown)")
            // When the rest is expected done, if resumed: its remaining wave in its windows.
            #expect(shown["eta"] is String, "\(shown)")
            let gate = (waves.first?["gates"] as? [[String: Any]])?.last
            #expect(gate?["status"] as? Int == 4 && waves.first?["wave"] as? String == "staging", "\(shown)")
            #expect(
                waves.first?["members"] == nil && (waves.last?["counts"] as? [String: Int]) == ["to-schedule": 2],
                "\(shown)")
            let metrics = try await LabHTTP.get(port: daemon.port, path: "/metrics", token: daemon.token).body
            #expect(metrics.contains("changeover_campaign_wave{campaign=\"\(id)\",state=\"halted\"} 1"), "\(metrics)")
            #expect(
                metrics.contains("changeover_campaign_members{campaign=\"\(id)\",outcome=\"waiting\"} 2"), "\(metrics)")
            #expect(PrometheusExposition.problems(in: metrics) == [], "\(metrics)")
            // Stopped before the next wave: production is neither scheduled nor touched, even
            // with its window open, for as long as nobody resumes.
            try await Task.sleep(for: .seconds(3))
            let production = Set(fleet.databases.filter { $0.tier == "production" }.map(\.name))
            #expect(try fleet.store.changeovers().filter { production.contains($0.database) }.isEmpty)
            #expect(try fleet.campaign(id)?.waves[0].gates.count == 1)

            FileManager.default.createFile(atPath: fixed, contents: nil)
            let resume = try await fleet.cli(["campaign", "resume", id])
            #expect(
                resume.status == 0 && resume.stdout.contains("resumed (it was halted)"),
                "\(resume.stdout)\(resume.stderr)")
            try await fleet.expectEventually(.seconds(200), "the campaign did not complete", id, daemon) {
                try fleet.campaign(id)?.state == .completed
            }
            let campaign = try #require(try fleet.campaign(id))
            #expect(campaign.waves.map { $0.gates.map(\.passed) } == [[false, true], [true]])
            #expect(campaign.members.allSatisfy { $0.outcome == .done })
            let ended = (try await daemon.status()["campaigns"] as? [[String: Any]])?.first {
                $0["id"] as? String == id
            }
            #expect(
                ended?["state"] as? String == "completed" && ended?["done"] as? Int == 3
                    && ended?["total"] as? Int == 3, "\(ended ?? [:])")
            #expect(ended?["eta"] == nil, "a finished campaign has no ETA: \(ended ?? [:])")
            let after = try await LabHTTP.get(port: daemon.port, path: "/metrics", token: daemon.token).body
            #expect(
                after.contains("# TYPE changeover_campaign_wave gauge") && !after.contains("campaign=\"\(id)\""),
                "\(after)")
            let outcomes = try AuditLog.read(path: fleet.config.auditLog).filter { $0.changeover == id }.map(\.outcome)
            #expect(
                outcomes == [
                    "started", "wave-started", "gate-failed", "halted", "resume-requested", "resumed", "gate-passed",
                    "wave-started", "gate-passed", "completed",
                ], "\(outcomes)")
            #expect(try await daemon.terminate() == 0)
            try await fleet.expectNoWriteLost()
        }
    }

    /// Issue 7's third must-show: two daemons share a Postgres state store and one campaign;
    /// one is SIGKILLed midway, while changeovers it claimed wait for their window; the other
    /// takes them over once their leases expire and finishes the campaign; the audit log's
    /// fencing tokens show no database (and not the campaign) worked on by two daemons at once.
    @Test(arguments: repetitions) func twoDaemonsShareACampaignAndTheSurvivorFinishesIt(repetition: Int) async throws {
        try await withCampaignFleet(
            postgres: 4, redis: 2, tiers: ["staging": 4, "production": 2], writers: ["pg-01", "redis-02"],
            windowIn: 60, sharedStore: true
        ) { fleet in
            let a = try await fleet.startDaemon("a", concurrency: 2)
            defer { a.kill9() }
            let start = try await fleet.cli(
                [
                    "campaign", "start", "--image", "pg15=pg15-patched,redis7=redis7-patched", "--waves",
                    "staging,production",
                    "--gate", "true", "--json",
                ], daemon: "a")
            #expect(start.status == 0, "\(start.stderr)")
            let id = try #require(try fleet.campaignID(start.stdout))
            // A claims two of staging's four; B, started then, the other two.
            try await fleet.expectEventually(.seconds(60), "A started nothing", id, a) {
                try fleet.store.changeovers().filter { $0.machine.step != .pending }.count >= 2
            }
            let b = try await fleet.startDaemon("b", concurrency: 4)
            defer { b.kill9() }
            try await fleet.expectEventually(.seconds(150), "staging did not all reach await-window", id, b) {
                let records = try fleet.store.changeovers()
                return records.count == 4 && records.allSatisfy { $0.machine.step == .awaitWindow }
            }
            var ofA: [String] = []
            for database in fleet.databases.map(\.name) {
                if let lease = try await fleet.store.lease(of: database), lease.lease.holder.contains("pid \(a.pid) ") {
                    ofA.append(database)
                }
            }
            #expect(!ofA.isEmpty, "A holds no changeover to take over")
            #expect(Date() < fleet.windowStart, "the window opened before A could be killed midway")
            let killedAt = Date()
            a.kill9()

            try await fleet.expectEventually(.seconds(300), "the campaign did not complete", id, b) {
                try fleet.campaign(id)?.state == .completed
            }
            #expect(try await b.terminate() == 0)
            let campaign = try #require(try fleet.campaign(id))
            #expect(campaign.members.count == 6 && campaign.members.allSatisfy { $0.outcome == .done })
            for database in fleet.databases {
                #expect(try fleet.store.database(database.name)?.image == database.patched, "\(database.name)")
            }
            let audit = try AuditLog.read(path: fleet.config.auditLog)
            #expect(AuditLog.verify(path: fleet.config.auditLog).isIntact)
            for database in ofA {
                let resumed = audit.first {
                    $0.database == database && $0.step == "changeover" && $0.outcome == "resumed"
                }
                #expect(resumed?.actor.contains("pid \(b.pid) ") == true, "\(database) was not resumed by B")
            }
            // No two holders' token spans on one database, or on the campaign (its records have
            // no database), overlap.
            let intervals = LeaseIntervals(audit)
            #expect(intervals.overlaps.isEmpty, "\(intervals.overlaps)")
            #expect(
                Set(intervals.spans.keys) == Set(fleet.databases.map(\.name) + [""]), "\(intervals.spans.keys.sorted())"
            )
            #expect(
                audit.filter { $0.changeover == id && $0.step == "campaign" && $0.outcome != "started" }.allSatisfy {
                    $0.facts["lease.token"] != nil
                })
            let byB = audit.filter {
                $0.actor.contains("pid \(b.pid) ") && $0.step == "changeover" && $0.outcome == "resumed"
            }
            print(
                "campaign on a shared store: A (killed) held \(ofA.joined(separator: ", ")); B resumed "
                    + byB.map {
                        "\($0.database) \(String(format: "%.1f", $0.time.timeIntervalSince(killedAt))) s after the kill"
                    }.joined(separator: ", "))
            try await fleet.expectNoWriteLost()
        }
    }
}

/// A fleet of local databases for campaign tests: `postgres` Postgres primaries `pg-01…` and
/// `redis` Redis primaries `redis-01…`, spread over `tiers` in that order (Postgres first
/// within each tier's share), each with a follower port chosen up front and a one-off window
/// opening `windowIn` seconds from the start; writers on the databases named in `writers`.
struct CampaignFleet {
    struct Database {
        var name: String
        var engine: DatabaseConfig.EngineKind
        var tier: String
        var server: Lab.Server
        var followerPort: Int
        var patched: String { engine == .postgres ? "pg15-patched" : "redis7-patched" }
    }

    let lab: Lab
    let databases: [Database]
    let writers: [String: any WriteProbe]
    let windowStart: Date
    let environment: [String: String]
    let storeServer: Lab.Server?
    /// Daemon a's config, read once it is written.
    var config: FleetConfig!

    var store: StateStore { StateStore(config: config, environment: environment) }

    func campaign(_ id: String) throws -> Campaign? { try store.campaign(id) }

    func configPath(_ daemon: String) -> String { "\(lab.root)/fleet-\(daemon).yaml" }

    /// The CLI with daemon `daemon`'s config (each daemon its own state directory with a shared store).
    func cli(_ arguments: [String], daemon: String = "a") async throws -> LabCLI.Result {
        try await CLI.run(arguments + ["--config", configPath(daemon)], environment: environment)
    }

    func statusText(_ id: String) async throws -> String {
        let status = try await cli(["campaign", "status", id])
        return status.stdout + status.stderr
    }

    /// Waits for `condition`; on timeout records an issue with the campaign's status and the
    /// daemon's log.
    func expectEventually(
        _ limit: Duration, _ what: String, _ id: String, _ daemon: DaemonProcess,
        _ condition: () async throws -> Bool
    ) async throws {
        if try await eventually(limit, condition) { return }
        let steps = ((try? store.changeovers()) ?? []).map { "\($0.database) \($0.machine.step)" }.joined(
            separator: ", ")
        Issue.record(
            "\(what) within \(limit):\n\(try await statusText(id))\nchangeovers: \(steps)\ndaemon: \(daemon.output.suffix(4000))"
        )
    }

    func campaignID(_ json: String) throws -> String? {
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        return object?["id"] as? String
    }

    func startDaemon(_ name: String, concurrency: Int) async throws -> DaemonProcess {
        let port = FreePort.next()
        try configText(daemon: name, port: port, concurrency: concurrency).write(
            toFile: configPath(name), atomically: true, encoding: .utf8)
        return try await DaemonProcess.start(
            config: configPath(name), port: port, environment: environment,
            token: "t0ken-\(UUID().uuidString)", log: "\(lab.root)/daemon-\(name).log")
    }

    func configText(daemon: String, port: Int, concurrency: Int) -> String {
        let window = "oneOffWindows: [\"\(iso(windowStart)) for 30m\"]"
        let databaseLines = databases.map { database in
            switch database.engine {
            case .postgres:
                """
                  \(database.name):
                    engine: postgres
                    image: pg15
                    primary: "host=127.0.0.1 port=\(database.server.port) user=postgres dbname=postgres"
                    password: {env: LAB_PG_PASSWORD}
                    replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                    follower: {port: \(database.followerPort)}
                    labels: {tier: \(database.tier)}
                    \(window)
                    catchUp: {maxLagBytes: 1MB, holdFor: 300ms, pollEvery: 50ms, timeout: 2m}
                """
            case .redis:
                """
                  \(database.name):
                    engine: redis
                    image: redis7
                    primary: "127.0.0.1:\(database.server.port)"
                    password: {env: LAB_PG_PASSWORD}
                    retireAfter: 0s
                    follower: {port: \(database.followerPort)}
                    labels: {tier: \(database.tier)}
                    \(window)
                    catchUp: {maxLagBytes: 1MB, holdFor: 300ms, pollEvery: 50ms, timeout: 2m}
                """
            }
        }
        let store =
            storeServer.map {
                "store: {kind: postgres, conninfo: \"host=127.0.0.1 port=\($0.port) user=postgres dbname=postgres\", passwordEnv: LAB_PG_PASSWORD, leaseTtl: 8s}"
            } ?? ""
        return """
            stateDirectory: \(lab.root)/state-\(storeServer == nil ? "a" : daemon)
            auditLog: \(lab.root)/audit.jsonl
            provisioner: {kind: local, root: \(lab.root)/nodes}
            images:
              pg15: {binDirectory: \(lab.binDirectory)}
              redis7: {binDirectory: \(Lab.redisBinDirectory)}
              pg15-patched: {binDirectory: \(lab.binDirectory)}
              redis7-patched: {binDirectory: \(Lab.redisBinDirectory)}
            databases:
            \(databaseLines.joined(separator: "\n"))
            scheduling: {switchoverEstimate: 5s, margin: 2s, minimumLead: 1h, recheckEvery: 2s}
            daemon: {listen: "127.0.0.1:\(port)", tokenEnv: TEST_DAEMON_TOKEN, concurrency: \(concurrency), tick: 200ms}
            \(store)
            """
    }

    /// Every acknowledged write is on the database's primary now.
    func expectNoWriteLost() async throws {
        for database in databases {
            guard let writer = writers[database.name] else { continue }
            try await writer.waitForAcknowledgements(20)
            let report = await writer.stop()
            #expect(report.acknowledged.count >= 20)
            let now = try #require(try store.database(database.name))
            let port = try DatabasePrimary.parse(now.primary, engine: database.engine).port
            #expect(port == database.followerPort, "\(database.name) is on port \(port)")
            let missing: [Int64] =
                switch database.engine {
                case .postgres:
                    try await { () async throws -> [Int64] in
                        let connection = try await lab.connect(
                            try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres"))
                        defer { connection.close() }
                        return try await AckedWriter.missing(report.acknowledged, on: connection)
                    }()
                case .redis:
                    try await RedisAckedWriter.missing(report.acknowledged, on: lab.redisEndpoint(port: port))
                }
            #expect(missing.isEmpty, "\(database.name) lost \(missing.count) acknowledged write(s)")
        }
    }
}

func withCampaignFleet(
    postgres: Int, redis: Int, tiers: [String: Int], writers names: Set<String>, windowIn: Double = 20,
    sharedStore: Bool = false, _ body: (CampaignFleet) async throws -> Void
) async throws {
    let lab = try Lab()
    var writers: [String: any WriteProbe] = [:]
    var failure: (any Error)?
    do {
        let order = ["staging", "canary", "production"].filter { tiers[$0] != nil }
        var tierOf: [String] = order.flatMap { Array(repeating: $0, count: tiers[$0]!) }
        precondition(tierOf.count == postgres + redis, "the tiers take \(tierOf.count) databases")
        // Each tier takes Postgres and Redis alike: deal the engines round-robin.
        var engines: [DatabaseConfig.EngineKind] = []
        var (pg, rd) = (postgres, redis)
        while pg + rd > 0 {
            if pg > 0 && (pg >= rd) {
                engines.append(.postgres)
                pg -= 1
            } else {
                engines.append(.redis)
                rd -= 1
            }
        }
        var databases: [CampaignFleet.Database] = []
        var (pgCount, redisCount) = (0, 0)
        for engine in engines {
            let tier = tierOf.removeFirst()
            let name: String
            let server: Lab.Server
            if engine == .postgres {
                pgCount += 1
                name = String(format: "pg-%02d", pgCount)
                server = try await lab.startPrimary(name: name)
            } else {
                redisCount += 1
                name = String(format: "redis-%02d", redisCount)
                server = try await lab.startRedisPrimary(name: name)
            }
            var follower = FreePort.next()
            while follower == server.port
                || databases.contains(where: { $0.followerPort == follower || $0.server.port == follower })
            {
                follower = FreePort.next()
            }
            databases.append(.init(name: name, engine: engine, tier: tier, server: server, followerPort: follower))
        }
        for database in databases where names.contains(database.name) {
            let writer: any WriteProbe
            switch database.engine {
            case .postgres:
                let connection = try await lab.connect(database.server.conninfo)
                try await AckedWriter.prepare(on: connection)
                connection.close()
                writer = AckedWriter(
                    conninfo: try ConnInfo(
                        "host=127.0.0.1,127.0.0.1 port=\(database.server.port),\(database.followerPort) user=postgres dbname=postgres "
                            + "target_session_attrs=read-write connect_timeout=2"
                    ).with("password", lab.superuserPassword))
            case .redis:
                writer = RedisAckedWriter(endpoints: [
                    lab.redisEndpoint(port: database.server.port), lab.redisEndpoint(port: database.followerPort),
                ])
            }
            await writer.start()
            try await writer.waitForAcknowledgements(20)
            writers[database.name] = writer
        }
        let storeServer = sharedStore ? try await lab.startPrimary(name: "store") : nil
        let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
        var fleet = CampaignFleet(
            lab: lab, databases: databases, writers: writers, windowStart: wholeSecond(in: windowIn),
            environment: environment, storeServer: storeServer)
        try fleet.configText(daemon: "a", port: 1, concurrency: 1).write(
            toFile: fleet.configPath("a"), atomically: true, encoding: .utf8)
        fleet.config = try FleetConfig.load(path: fleet.configPath("a"), environment: environment)
        try await body(fleet)
    } catch {
        failure = error
    }
    for writer in writers.values { _ = await writer.stop() }
    await lab.shutdown()
    if let failure { throw failure }
    try expectNothingLeft(lab)
}
