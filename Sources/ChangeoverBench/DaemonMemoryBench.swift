// The daemon's memory with a large inventory: the built `changeover daemon` run over a generated
// fleet config, its resident set read from /proc once it has ticked for a while.
import ChangeoverCore
import ChangeoverLab
import Foundation

/// One run of the daemon: how big its inventory was, what it did meanwhile, what it held.
struct DaemonMemoryRow: Encodable {
    var databases: Int
    /// Where the databases are: the config file's `databases:`, or the state store's inventory.
    var inventory: DaemonMemoryBench.Inventory
    /// Adding the store's inventory, when the databases are there (one transaction).
    var inventorySeconds: Double?
    /// Changeovers the config's `schedule:` asked for (one per database, or none).
    var scheduled: Int
    /// Changeovers in the state store when the memory was read.
    var records: Int
    /// Ticks the daemon finished while it was watched (after it was ready).
    var ticks: Int
    /// The first tick, when it was seen: it records the config's `schedule:` entries.
    var firstTickMs: Double?
    /// The tick's own work (the `daemon.tick` sleep not counted), over the later ticks seen.
    var tickP50Ms: Double?
    var tickMaxMs: Double?
    var rssMB: Double
    var hwmMB: Double
    /// The daemon's CPU time over the watch, in percent of one core.
    var cpuPercent: Double
    /// From the spawn to the first answer of `GET /status`.
    var firstAnswerSeconds: Double
    /// From the spawn until the store held every scheduled changeover.
    var readySeconds: Double?
    /// How long `GET /status` took to answer while watched (it reads every record), median.
    var statusP50Ms: Double?
    /// How long `GET /metrics` took to answer while watched, median.
    var metricsP50Ms: Double?
    var watchedSeconds: Double
    var note: String?
}

enum DaemonMemoryBench {
    enum Inventory: String, Encodable {
        case file = "config file"
        case store = "state store"
    }

    static let targetMB = 100.0
    static let tick = Duration.milliseconds(200)
    static var tickText: String { "\(Int(tick.seconds * 1000))ms" }
    /// What the watch waits for once the daemon is ready: this many ticks and this long, or the limit.
    static let watchTicks = 20
    static let watchAtLeast = Duration.seconds(10)
    static let watchLimit = Duration.seconds(300)
    static let readyLimit = Duration.seconds(1800)

    /// The `changeover` executable beside this one (`make bench` builds both).
    static var executable: String {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("changeover").path
    }

    /// Starts the daemon over a fleet of `databases` (with a scheduled changeover for each when
    /// `scheduleEach`), waits until it is ready and has ticked for a while, reads its memory, and
    /// stops it. Removes what it made, whatever happens.
    static func run(databases: Int, scheduleEach: Bool, inventory: Inventory = .file) async throws -> DaemonMemoryRow {
        let cli = executable
        guard FileManager.default.isExecutableFile(atPath: cli) else {
            throw LabError("\(cli) is missing: build it first (swift build -c release --product changeover)")
        }
        var template = Array(
            "\(FileManager.default.temporaryDirectory.path)/changeover-bench-daemon-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw LabError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        let root = String(cString: made)
        var pid: pid_t?
        func cleanUp() {
            if let pid, Subprocess.reap(pid) == nil {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { usleep(1000) }
            }
            try? FileManager.default.removeItem(atPath: root)
        }
        do {
            let row = try await measure(
                cli: cli, root: root, databases: databases, scheduleEach: scheduleEach, inventory: inventory
            ) { pid = $0 }
            cleanUp()
            return row
        } catch {
            cleanUp()
            throw error
        }
    }

    private static func measure(
        cli: String, root: String, databases: Int, scheduleEach: Bool, inventory: Inventory,
        started: (pid_t) -> Void
    ) async throws -> DaemonMemoryRow {
        let port = FreePort.next()
        // Primaries on loopback ports nothing listens on: the data-size probe is refused at once.
        let closed = (0..<4).map { _ in FreePort.next() }
        let token = "bench-\(UUID().uuidString)"
        let config = "\(root)/fleet.yaml"
        let fleet = fleet(databases: databases, closedPorts: closed, now: Date())
        try fleetConfig(
            root: root, fleet: inventory == .file ? fleet : [], listen: port,
            schedule: scheduleEach ? fleet.map { ($0.name, $0.redis ? "redis7-patched" : "pg15-patched") } : []
        )
        .write(toFile: config, atomically: true, encoding: .utf8)
        var inventorySeconds: Double?
        if inventory == .store {
            let began = ContinuousClock.now
            try StateStore(directory: "\(root)/state").saveInventory(
                fleet.map {
                    InventoryEntry(
                        name: $0.name, stanza: $0.stanza.joined(separator: "\n") + "\n", addedAt: Date(),
                        addedBy: "changeover-bench")
                })
            inventorySeconds = (ContinuousClock.now - began).seconds
        }
        let log = "\(root)/daemon.log"

        let spawned = ContinuousClock.now
        let pid = try Subprocess.spawn(
            [cli, "daemon", "--config", config],
            environment: ["BENCH_DAEMON_TOKEN": token, "BENCH_DB_PASSWORD": "unused"], outputPath: log)
        started(pid)
        func exited() throws {
            if let status = Subprocess.reap(pid) {
                let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                throw LabError("the daemon exited with \(status): \(output.suffix(2000))")
            }
        }

        // Up and answering.
        var firstAnswer: Duration?
        while firstAnswer == nil {
            try exited()
            if await status(port: port, token: token) != nil {
                firstAnswer = ContinuousClock.now - spawned
                break
            }
            if ContinuousClock.now - spawned > .seconds(300) {
                throw LabError("the daemon did not answer within 300 s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }

        // With a schedule: ready once every entry is a record in the store. Counted in the audit
        // log (one `recorded` line each), which costs the daemon nothing; the store is read once.
        let store = StateStore(directory: "\(root)/state")
        var ready: Duration?
        var note: String?
        if scheduleEach {
            while true {
                try exited()
                let audit = (try? Data(contentsOf: URL(fileURLWithPath: "\(root)/state/audit.jsonl"))) ?? Data()
                let count =
                    String(decoding: audit, as: UTF8.self).components(separatedBy: "\"outcome\":\"recorded\"").count - 1
                if count >= databases {
                    let stored = (try? store.changeovers().count) ?? 0
                    guard stored >= databases else {
                        throw LabError("the audit log has \(count) scheduled changeovers, the store \(stored)")
                    }
                    ready = ContinuousClock.now - spawned
                    break
                }
                if ContinuousClock.now - spawned > readyLimit {
                    note =
                        "only \(count) of \(databases) scheduled changeovers recorded after \(Int(readyLimit.seconds)) s"
                    break
                }
                try await Task.sleep(for: .seconds(2))
            }
        }

        // Watched: ticks, their length, the CPU it takes.
        let watchStart = ContinuousClock.now
        let cpuStart = cpuSeconds(pid)
        var firstTicks: Int?
        var lastTicks = 0
        var tickSamples: [Double] = []
        var firstTick: Double?
        var statusSamples: [Double] = []
        var metricsSamples: [Double] = []
        while true {
            try exited()
            let asked = ContinuousClock.now
            let answer = await status(port: port, token: token)
            let latency = ContinuousClock.now - asked
            if answer != nil { statusSamples.append(latency.seconds * 1000) }
            let scraped = ContinuousClock.now
            if let metrics = try? await LabHTTP.get(port: port, path: "/metrics", token: token), metrics.status == 200 {
                metricsSamples.append((ContinuousClock.now - scraped).seconds * 1000)
            }
            if let daemon = answer?["daemon"] as? [String: Any],
                let ticks = daemon["ticks"] as? Int
            {
                if firstTicks == nil { firstTicks = ticks }
                if firstTick == nil, let ms = daemon["firstTickMs"] as? Double { firstTick = ms }
                if ticks != lastTicks, let ms = daemon["lastTickMs"] as? Double {
                    if ticks == 1 { firstTick = ms } else if firstTicks != ticks { tickSamples.append(ms) }
                }
                lastTicks = ticks
            }
            let watched = ContinuousClock.now - watchStart
            if lastTicks - (firstTicks ?? lastTicks) >= watchTicks && watched >= watchAtLeast { break }
            if watched >= watchLimit {
                note = [note, "\(lastTicks - (firstTicks ?? lastTicks)) ticks in \(Int(watchLimit.seconds)) s"]
                    .compactMap { $0 }.joined(separator: "; ")
                break
            }
            // `/status` reads every record: asked rarely enough that answering it is at most a
            // fifth of the daemon's work.
            try await Task.sleep(for: max(.milliseconds(500), latency * 4))
        }
        let watched = (ContinuousClock.now - watchStart).seconds
        let cpu = (cpuSeconds(pid) - cpuStart) / watched * 100
        let memory = try residentMemory(pid)
        let records = (try? store.changeovers().count) ?? 0

        // Stopped as an operator would, and waited for.
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(120)
        var status: Int32?
        while status == nil && ContinuousClock.now < deadline {
            status = Subprocess.reap(pid)
            if status == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard status == 0 else {
            throw LabError(
                status.map { "the daemon exited with \($0) after SIGTERM" }
                    ?? "the daemon did not stop within 120 s of SIGTERM")
        }

        let sorted = tickSamples.sorted()
        let statusSorted = statusSamples.sorted()
        let metricsSorted = metricsSamples.sorted()
        return DaemonMemoryRow(
            databases: databases, inventory: inventory, inventorySeconds: inventorySeconds,
            scheduled: scheduleEach ? databases : 0, records: records, ticks: lastTicks - (firstTicks ?? lastTicks),
            firstTickMs: firstTick,
            tickP50Ms: sorted.isEmpty ? nil : sorted[sorted.count / 2], tickMaxMs: sorted.last,
            rssMB: memory.rss, hwmMB: memory.hwm, cpuPercent: cpu, firstAnswerSeconds: firstAnswer?.seconds ?? .nan,
            readySeconds: ready?.seconds,
            statusP50Ms: statusSorted.isEmpty ? nil : statusSorted[statusSorted.count / 2],
            metricsP50Ms: metricsSorted.isEmpty ? nil : metricsSorted[metricsSorted.count / 2],
            watchedSeconds: watched, note: note)
    }

    /// `GET /status` as JSON, nil when it does not answer (yet).
    static func status(port: Int, token: String) async -> [String: Any]? {
        guard let response = try? await LabHTTP.get(port: port, path: "/status", token: token), response.status == 200
        else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
    }

    /// VmRSS and VmHWM of `/proc/PID/status`, in MB (10^6 bytes).
    static func residentMemory(_ pid: pid_t) throws -> (rss: Double, hwm: Double) {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func field(_ name: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("\(name):") }) else { return nil }
            return line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { Double($0) }.map {
                $0 * 1024 / 1e6
            }
        }
        guard let rss = field("VmRSS"), let hwm = field("VmHWM") else {
            throw LabError("no VmRSS/VmHWM in /proc/\(pid)/status")
        }
        return (rss, hwm)
    }

    /// User and system CPU time of `pid` so far, in seconds.
    static func cpuSeconds(_ pid: pid_t) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        // After the command: state is field 3, utime and stime are fields 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    // MARK: the fleet

    static let zones = [
        "UTC", "Europe/Berlin", "Europe/London", "Europe/Moscow", "America/New_York", "America/Chicago",
        "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu",
        "Australia/Sydney", "Australia/Adelaide", "Pacific/Auckland", "Africa/Johannesburg",
    ]

    /// A fleet of `databases`, each with its stanza's lines: two thirds Postgres, a third
    /// Redis; a tenth `tier: staging`, the rest production; one or two weekly windows each, in
    /// three spellings and fifteen zones, all on weekdays three to six days from `now` (so that
    /// no window opens, and no provisioning is due, while the benchmark runs).
    static func fleet(databases: Int, closedPorts: [Int], now: Date) -> [(name: String, redis: Bool, stanza: [String])]
    {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let today = calendar.component(.weekday, from: now) - 1  // 0 = Sunday
        let names = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        let days = (3...6).map { names[(today + $0) % 7] }
        var random = PropertyGenerator(seed: 0x00DA_E40E)
        return (0..<databases).map { index in
            let name = String(format: "db%05d", index)
            let redis = index % 3 == 2
            let port = closedPorts[index % closedPorts.count]
            var windows: [String] = []
            for _ in 0..<Int.random(in: 1...2, using: &random) {
                let day = days.randomElement(using: &random)!
                let zone = zones.randomElement(using: &random)!
                let hour = Int.random(in: 0...20, using: &random)
                let minute = Bool.random(using: &random) ? "00" : "30"
                switch Int.random(in: 0..<3, using: &random) {
                case 0:
                    windows.append(
                        "\"\(day.capitalized)s \(String(format: "%02d", hour)):\(minute) \(zone) for \([1, 2, 4].randomElement(using: &random)!)h\""
                    )
                case 1:
                    windows.append(
                        "\"\(day.prefix(3)):\(String(format: "%02d", hour)):\(minute)-\(day.prefix(3)):\(String(format: "%02d", hour + 3)):\(minute) \(zone)\""
                    )
                default:
                    windows.append(
                        "{day: \(day), start: \"\(String(format: "%02d", hour)):\(minute)\", duration: \([90, 120, 180].randomElement(using: &random)!)m, zone: \(zone)}"
                    )
                }
            }
            var stanza: [String]
            if redis {
                stanza = ["engine: redis", "image: redis7", "primary: \"127.0.0.1:\(port)\""]
            } else {
                stanza = [
                    "engine: postgres", "image: pg15",
                    "primary: \"host=127.0.0.1 port=\(port) user=postgres dbname=postgres\"",
                    "replication: {user: replicator, password: {env: BENCH_DB_PASSWORD}}",
                ]
            }
            stanza += [
                "password: {env: BENCH_DB_PASSWORD}", "labels: {tier: \(index % 10 == 0 ? "staging" : "production")}",
                "windows: [\(windows.joined(separator: ", "))]",
            ]
            return (name, redis, stanza)
        }
    }

    /// The daemon's config: local images, the `fleet`'s stanzas under `databases:` (none when
    /// they are in the store), a `schedule:` entry for each of `schedule`.
    static func fleetConfig(
        root: String, fleet: [(name: String, redis: Bool, stanza: [String])], listen: Int,
        schedule: [(database: String, image: String)]
    ) -> String {
        var lines = [
            "stateDirectory: \(root)/state",
            "provisioner: {kind: local, root: \(root)/nodes}",
            "images:",
            "  pg15: {binDirectory: /usr/lib/postgresql/15/bin}",
            "  pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin, environment: {CHANGEOVER_IMAGE: pg15-patched}}",
            "  redis7: {binDirectory: \(Lab.redisBinDirectory)}",
            "  redis7-patched: {binDirectory: \(Lab.redisBinDirectory), environment: {CHANGEOVER_IMAGE: redis7-patched}}",
            "daemon: {listen: \"127.0.0.1:\(listen)\", tokenEnv: BENCH_DAEMON_TOKEN, tick: \(tickText)}",
        ]
        lines.reserveCapacity(fleet.count * 8 + schedule.count + 20)
        if !fleet.isEmpty { lines.append("databases:") }
        for (name, _, stanza) in fleet {
            lines.append("  \(name):")
            lines += stanza.map { "    \($0)" }
        }
        if !schedule.isEmpty {
            lines.append("schedule:")
            lines += schedule.map { "  - {database: \($0.database), image: \($0.image)}" }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
