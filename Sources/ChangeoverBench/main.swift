// The write-pause benchmark: N changeovers per engine of a throwaway primary under a steady
// writer that records every acknowledged write, next to Redis's own FAILOVER measured with the
// same writer. Prints a table; asserts nothing. `make bench` runs it.
import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient

/// `changeover-bench [N] [--only ROW,ROW…] [--json FILE] [--daemon-databases D]`: N changeovers per
/// row (default 5); `--only` picks rows by key (postgres-direct, postgres-pgbouncer, postgres-haproxy,
/// redis-direct, redis-haproxy, postgres-ssh, redis-ssh, redis-failover, basebackup, windows, campaign, daemon-memory);
/// `--json` also writes the table as JSON; `--daemon-databases` sizes the daemon-memory fleet
/// (default 10000).
struct Options {
    var count = 5
    var only: Set<String>?
    var json: String?
    var daemonDatabases = 10_000

    init(_ arguments: [String]) {
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            switch argument {
            case "--only": only = Set((rest.popFirst() ?? "").split(separator: ",").map(String.init))
            case "--json": json = rest.popFirst()
            case "--daemon-databases":
                guard let number = rest.popFirst().flatMap({ Int($0) }), number > 0 else {
                    FileHandle.standardError.write(
                        Data("changeover-bench: --daemon-databases needs a positive number\n".utf8))
                    exit(2)
                }
                daemonDatabases = number
            default:
                guard let number = Int(argument), number > 0 else {
                    FileHandle.standardError.write(Data("changeover-bench: unknown argument \(argument)\n".utf8))
                    exit(2)
                }
                count = number
            }
        }
    }

    func wants(_ key: String) -> Bool { only?.contains(key) ?? true }
}

let options = Options(Array(CommandLine.arguments.dropFirst()))
let count = options.count

struct Row: Encodable {
    var engine: String
    var method: String
    var pauses: [Double] = []
    var controllerPauses: [Double] = []
    var totals: [Double] = []
    var lost = 0
    var errors = 0
    var failures = 0
    var backupRates: [Double] = []
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    return sorted[Int((p / 100 * Double(sorted.count - 1)).rounded())]
}

func ms(_ value: Double) -> String { value.isNaN ? "–" : String(format: "%.1f ms", value) }

enum Front: String { case direct, pgbouncer, haproxy }

/// `count` changeovers of one engine with clients in front of it as `front` says, each timed
/// by the writer and by the controller.
func benchChangeovers(_ engine: DatabaseConfig.EngineKind, via front: Front) async throws -> Row {
    let method =
        switch (engine, front) {
        case (.postgres, .direct): "direct, libpq multi-host client"
        case (.redis, .direct): "direct, client follows ROLE"
        default: "via \(front.rawValue)"
        }
    var row = Row(engine: engine.rawValue, method: method)
    print("\n\(engine.rawValue) \(method): \(count) changeovers")
    print("   #  writer pause ms  controller pause ms  total s  outcome  breakdown")
    let scenario = try await LabScenario.start(
        engine: engine, database: "bench", changeovers: count,
        startWriter: front == .direct)
    var bouncer: LabPgBouncer?
    var proxy: LabHAProxy?
    var writer: any WriteProbe = scenario.writer
    var router: (yaml: String, environment: [String: String])?
    do {
        switch front {
        case .direct:
            // The clients find the primary themselves (multi-host conninfo, ROLE): no router.
            router = ("      kind: none", [:])
        case .pgbouncer:
            bouncer = try await LabPgBouncer.start(lab: scenario.lab, inFrontOf: scenario.primary, database: "bench")
            writer = AckedWriter(conninfo: bouncer!.clientConnInfo(lab: scenario.lab))
            router = bouncer!.routerConfig
        case .haproxy:
            proxy = try await LabHAProxy.start(lab: scenario.lab, inFrontOf: scenario.primary)
            writer =
                engine == .postgres
                ? AckedWriter(conninfo: proxy!.clientConnInfo(lab: scenario.lab))
                : RedisAckedWriter(endpoints: [scenario.lab.redisEndpoint(port: proxy!.port)])
            router = (proxy!.routerConfig, [:])
        }
        if front != .direct {
            await writer.start()
            try await writer.waitForAcknowledgements(200)
        }
        for index in 0..<count {
            let began = ContinuousClock.now
            let summary =
                if let router {
                    try await scenario.changeover(index, router: router.yaml, environment: router.environment)
                } else {
                    try await scenario.changeover(index)
                }
            try await writer.waitForAcknowledgements(200)
            let pause = await writer.longestGap(since: began)
            row.pauses.append(pause)
            row.controllerPauses.append(summary.writePauseMilliseconds ?? .nan)
            row.totals.append(summary.totalMilliseconds / 1000)
            if summary.outcome != .completed { row.failures += 1 }
            if let bytes = Double(summary.facts["basebackup.bytes"] ?? ""),
                let seconds = Double(summary.facts["basebackup.seconds"] ?? "")
            {
                row.backupRates.append(bytes / seconds)
            }
            let steps =
                summary.timings.filter { [.fence, .finalSync, .promote, .repoint].contains($0.step) }
                .map { "\($0.step) \(String(format: "%.1f", $0.milliseconds))" }.joined(separator: ", ")
                + ["stop.ms", "controldata.ms", "promote.ms"].compactMap { key in
                    summary.facts[key].map { " \(key) \($0)" }
                }.joined()
            print(
                String(
                    format: "%4d  %15.1f  %19.1f  %7.2f  ", index + 1, pause, summary.writePauseMilliseconds ?? .nan,
                    summary.totalMilliseconds / 1000) + summary.outcome.rawValue + "  " + steps)
        }
    } catch {
        print("changeover failed: \(error)")
        row.failures += 1
    }
    let report = await writer.stop()
    row.errors = report.errors
    row.lost = (try? await scenario.missing(report.acknowledged).count) ?? -1
    await bouncer?.stop()
    await proxy?.stop()
    await scenario.lab.shutdown()
    return row
}

/// A changeover's base backup against a plain `pg_basebackup` of the same ~300 MB primary.
func benchBaseBackup() async throws -> (plain: Double, changeover: Double) {
    print("\npostgres base backup: ~300 MB primary, plain pg_basebackup then a changeover's")
    let scenario = try await LabScenario.start(engine: .postgres, database: "bench", changeovers: 1, startWriter: false)
    do {
        let connection = try await scenario.lab.connect(scenario.primary.conninfo)
        _ = try await connection.simpleQuery(
            "CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 30) AS pad FROM generate_series(1, 300000) g; CHECKPOINT",
            timeout: .seconds(300))
        connection.close()
        let target = "\(scenario.lab.root)/plain-backup"
        try LocalFiles.makeDirectory(target, owner: scenario.lab.runAs, mode: 0o700)
        let started = ContinuousClock.now
        let plain = try await Subprocess.run(
            Subprocess.runAsPrefix(scenario.lab.runAs) + [
                "\(scenario.lab.binDirectory)/pg_basebackup", "-h", "127.0.0.1",
                "-p", String(scenario.primary.port), "-U", "replicator", "-D", "\(target)/data", "-X", "stream", "-c",
                "fast", "-w",
            ],
            environment: ["PGPASSWORD": scenario.lab.replicationPassword], timeout: .seconds(600))
        let plainSeconds = (ContinuousClock.now - started).seconds
        guard plain.succeeded else { throw LabError("pg_basebackup failed: \(plain.lastErrorLine)") }
        let bytes = Double(Subprocess.directoryBytes("\(target)/data"))
        try? FileManager.default.removeItem(atPath: target)
        let summary = try await scenario.changeover(0)
        let ours =
            (Double(summary.facts["basebackup.bytes"] ?? "") ?? 0)
            / (Double(summary.facts["basebackup.seconds"] ?? "") ?? .infinity)
        print(
            String(
                format:
                    "  plain pg_basebackup: %.0f MB in %.2f s = %.0f MB/s; changeover: %@ bytes in %@ s = %.0f MB/s",
                bytes / 1e6, plainSeconds, bytes / plainSeconds / 1e6, summary.facts["basebackup.bytes"] ?? "?",
                summary.facts["basebackup.seconds"] ?? "?", ours / 1e6))
        await scenario.lab.shutdown()
        return (bytes / plainSeconds, ours)
    } catch {
        await scenario.lab.shutdown()
        throw error
    }
}

/// Redis's own `FAILOVER` between a primary and its replica, `count` times, same writer.
func benchRedisFailover() async throws -> Row {
    var row = Row(engine: "redis", method: "Redis FAILOVER command (for comparison)")
    print("\nredis: \(count) FAILOVER commands")
    let lab = try Lab()
    do {
        let primary = try await lab.startRedisPrimary()
        let replica = try await lab.startRedisReplica(of: primary)
        let endpoints = [lab.redisEndpoint(port: primary.port), lab.redisEndpoint(port: replica.port)]
        let writer = RedisAckedWriter(endpoints: endpoints)
        await writer.start()
        try await writer.waitForAcknowledgements(200)
        var master = 0
        for index in 0..<count {
            try await waitUntilReplicaOnline(endpoints[master])
            let began = ContinuousClock.now
            let connection = try await RedisConnection.connect(endpoints[master], timeout: .seconds(5))
            _ = try await connection.command(["FAILOVER", "TIMEOUT", "10000"], timeout: .seconds(5))
            connection.close()
            // FAILOVER answers before it is done: wait for the roles to swap.
            let other = 1 - master
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let check = try? await RedisConnection.connect(endpoints[other], timeout: .seconds(1)),
                    let reply = try? await check.command(["ROLE"], timeout: .seconds(1))
                {
                    check.close()
                    if case .master = try RedisRole(reply) { break }
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            master = other
            try await writer.waitForAcknowledgements(200)
            let pause = await writer.longestGap(since: began)
            row.pauses.append(pause)
            row.totals.append((ContinuousClock.now - began).seconds)
            print(String(format: "%4d  %15.1f ms", index + 1, pause))
        }
        let report = await writer.stop()
        row.errors = report.errors
        row.lost = try await RedisAckedWriter.missing(report.acknowledged, on: endpoints[master]).count
    } catch {
        print("FAILOVER benchmark failed: \(error)")
        row.failures += 1
    }
    await lab.shutdown()
    return row
}

func waitUntilReplicaOnline(_ endpoint: RedisEndpoint) async throws {
    let connection = try await RedisConnection.connect(endpoint, timeout: .seconds(5))
    defer { connection.close() }
    let deadline = ContinuousClock.now + .seconds(30)
    while ContinuousClock.now < deadline {
        let info = RedisInfo(
            parsing: try await connection.command(["INFO", "replication"], timeout: .seconds(5)).string ?? "")
        if info.replicas.contains(where: { $0.state == "online" }) { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw LabError("the replica did not come online")
}

print(
    "changeover benchmark on \(ProcessInfo.processInfo.activeProcessorCount) cores: the write pause is the longest gap")
print("between two acknowledged writes of a writer that writes as fast as the server answers.")
var rows: [Row] = []
for (engine, front) in [
    (DatabaseConfig.EngineKind.postgres, Front.direct), (.postgres, .pgbouncer), (.postgres, .haproxy),
    (.redis, .direct), (.redis, .haproxy),
] where options.wants("\(engine.rawValue)-\(front.rawValue)") {
    rows.append(try await benchChangeovers(engine, via: front))
}
for engine in [DatabaseConfig.EngineKind.postgres, .redis] where options.wants("\(engine.rawValue)-ssh") {
    rows.append(try await benchSSHChangeovers(engine))
}
if options.wants("redis-failover") { rows.append(try await benchRedisFailover()) }
let backup = options.wants("basebackup") ? try await benchBaseBackup() : nil

let header = [
    "engine", "method", "runs", "write pause p50", "p90", "max", "controller p50", "client errors", "lost writes",
    "total p50",
]
let table = rows.map { row in
    [
        row.engine, row.method, String(row.pauses.count), ms(percentile(row.pauses, 50)),
        ms(percentile(row.pauses, 90)),
        ms(row.pauses.max() ?? .nan), ms(percentile(row.controllerPauses, 50)), String(row.errors), String(row.lost),
        String(format: "%.2f s", percentile(row.totals, 50)),
    ]
}
let widths = header.indices.map { column in ([header] + table).map { $0[column].count }.max() ?? 0 }
func line(_ cells: [String]) -> String {
    "| " + zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ")
        + " |"
}
if !rows.isEmpty {
    print()
    print(line(header))
    print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
    for cells in table { print(line(cells)) }
    print()
    print(
        "client errors: failed attempts while the primary moved (the writer retries them; they were never acknowledged)."
    )
}
if let backup {
    print(
        String(
            format: "base backup throughput: changeover %.0f MB/s, plain pg_basebackup %.0f MB/s (%.0f%%)",
            backup.changeover / 1e6, backup.plain / 1e6, backup.changeover / backup.plain * 100))
}
let windows = options.wants("windows") ? try benchWindowPlanner() : nil
if let windows {
    print(
        String(
            format:
                "maintenance windows: next fitting window for 100000 databases (mixed zones, freezes) in %.0f ms (fleet built in %.0f ms, %d found)",
            windows.plan.milliseconds, windows.build.milliseconds, windows.found))
}
let campaign = options.wants("campaign") ? try benchCampaignPlanner() : nil
if let campaign {
    print(
        String(
            format:
                "campaign: planned over 100000 inventory entries (2 tiers, waves staging,canary:5%%,production) in %.0f ms (%d databases in %d waves)",
            campaign.plan.milliseconds, campaign.members, campaign.waves))
}
var daemonFailures = 0
var daemonRows: [DaemonMemoryRow] = []
if options.wants("daemon-memory") {
    let databases = options.daemonDatabases
    print(
        "\ndaemon memory: the built `changeover daemon` over a generated fleet of \(databases) databases (tick \(DaemonMemoryBench.tickText))"
    )
    for (scheduleEach, inventory) in [(false, DaemonMemoryBench.Inventory.file), (false, .store), (true, .file)] {
        do {
            let row = try await DaemonMemoryBench.run(
                databases: databases, scheduleEach: scheduleEach, inventory: inventory)
            daemonRows.append(row)
            print(
                String(
                    format: "  %@, %@: up in %.2f s, %d ticks in %.0f s, RSS %.1f MB, peak %.1f MB",
                    inventory.rawValue, scheduleEach ? "a scheduled changeover each" : "nothing scheduled",
                    row.firstAnswerSeconds, row.ticks,
                    row.watchedSeconds, row.rssMB, row.hwmMB) + (row.note.map { " (\($0))" } ?? ""))
        } catch {
            print("daemon memory benchmark failed: \(error)")
            daemonFailures += 1
        }
    }
    if !daemonRows.isEmpty {
        let header = [
            "databases", "kept in", "scheduled changeovers", "ticks observed", "first tick", "tick p50", "tick max",
            "RSS", "peak (HWM)",
            "target", "daemon CPU", "GET /status", "GET /metrics", "start to first answer", "start to all scheduled",
        ]
        let cells = daemonRows.map { row in
            [
                String(row.databases),
                row.inventory.rawValue + (row.inventorySeconds.map { String(format: " (added in %.1f s)", $0) } ?? ""),
                row.scheduled == 0 ? "none" : "\(row.records) of \(row.scheduled)", String(row.ticks),
                ms(row.firstTickMs ?? .nan), ms(row.tickP50Ms ?? .nan), ms(row.tickMaxMs ?? .nan),
                String(format: "%.1f MB", row.rssMB), String(format: "%.1f MB", row.hwmMB),
                "< \(Int(DaemonMemoryBench.targetMB)) MB: "
                    + (row.hwmMB < DaemonMemoryBench.targetMB ? "met" : "missed"),
                String(format: "%.0f%% of a core", row.cpuPercent), ms(row.statusP50Ms ?? .nan),
                ms(row.metricsP50Ms ?? .nan), String(format: "%.2f s", row.firstAnswerSeconds),
                row.readySeconds.map { String(format: "%.1f s", $0) } ?? (row.scheduled == 0 ? "–" : "not reached"),
            ]
        }
        let widths = header.indices.map { column in ([header] + cells).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            "| "
                + zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(
                    separator: " | ") + " |"
        }
        print()
        print(line(header))
        print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
        for row in cells { print(line(row)) }
        print()
        print(
            "tick: one look at every scheduled changeover, the \(DaemonMemoryBench.tickText) sleep between two not counted "
                + "(the first also records the config's schedule: entries; p50 and max are of the later ones seen); "
                + "RSS and peak: VmRSS and VmHWM of /proc/PID/status after the ticks observed.")
        for row in daemonRows where row.note != nil { print("note: \(row.note!)") }
    }
}

/// The table as JSON, for tracking figures across runs: milliseconds as numbers, null where
/// nothing was measured.
struct Report: Encodable {
    struct Changeovers: Encodable {
        var engine, method: String
        var runs: Int
        var pauseP50Ms, pauseP90Ms, pauseMaxMs, controllerPauseP50Ms, totalP50Seconds: Double?
        var pausesMs: [Double]
        var clientErrors, lostWrites, failures: Int
    }
    var date: String
    var cores: Int
    var changeoversPerRow: Int
    var rows: [Changeovers]
    var baseBackup: [String: Double]?
    var windowPlannerMs: Double?
    var campaignPlannerMs: Double?
    var daemonMemory: [DaemonMemoryRow]?
}
if let path = options.json {
    func number(_ value: Double) -> Double? { value.isFinite ? (value * 10).rounded() / 10 : nil }
    let report = Report(
        date: ISO8601DateFormatter().string(from: Date()), cores: ProcessInfo.processInfo.activeProcessorCount,
        changeoversPerRow: count,
        rows: rows.map { row in
            .init(
                engine: row.engine, method: row.method, runs: row.pauses.count,
                pauseP50Ms: number(percentile(row.pauses, 50)), pauseP90Ms: number(percentile(row.pauses, 90)),
                pauseMaxMs: number(row.pauses.max() ?? .nan),
                controllerPauseP50Ms: number(percentile(row.controllerPauses, 50)),
                totalP50Seconds: number(percentile(row.totals, 50)), pausesMs: row.pauses.compactMap(number),
                clientErrors: row.errors, lostWrites: row.lost, failures: row.failures)
        },
        baseBackup: backup.map {
            [
                "changeoverMBps": $0.changeover / 1e6, "plainMBps": $0.plain / 1e6,
                "ratio": $0.changeover / $0.plain,
            ]
        },
        windowPlannerMs: windows.map { $0.plan.milliseconds },
        campaignPlannerMs: campaign.map { $0.plan.milliseconds },
        daemonMemory: daemonRows.isEmpty ? nil : daemonRows)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: path))
    print("wrote \(path)")
}
let failed = rows.reduce(0) { $0 + $1.failures }
let lost = rows.reduce(0) { $0 + max($1.lost, 0) }
exit(failed == 0 && lost == 0 && daemonFailures == 0 ? 0 : 1)
