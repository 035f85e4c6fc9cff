import ChangeoverCore
import Foundation

/// `GET /status` (JSON) and `GET /metrics` (Prometheus text format 0.0.4).
extension ChangeoverDaemon {
    /// The daemon itself, in `GET /status`.
    public struct DaemonInfo: Encodable, Sendable {
        public var pid: Int32
        public var startedAt: Date
        public var config: String
        public var concurrency: Int
        public var running: [String]
        public var shuttingDown: Bool
        public var reloads: Int
        public var reloadFailures: Int
        public var lastReloadError: String?
        public var lastTick: Date?
        /// Ticks finished since the daemon started, and how long the last one took in ms (the
        /// `daemon.tick` sleep between two not counted).
        public var ticks: Int
        public var lastTickMs: Double?
    }

    public struct Status: Encodable, Sendable {
        public var daemon: DaemonInfo
        /// Scheduled, running and recent changeovers, newest first (at most 100).
        public var changeovers: [ChangeoverStatus]
        /// Campaigns not finished, then the last 10 finished, newest first, each as `campaign status
        /// --json` shows it without its members and ETA.
        public var campaigns: [CampaignStatus]
    }

    /// The campaigns `GET /status` shows: every unfinished one, then the last 10 finished.
    static func shownCampaigns(_ campaigns: [Campaign]) -> [Campaign] {
        campaigns.filter { !$0.isFinished } + campaigns.filter(\.isFinished).prefix(10)
    }

    public func status(now: Date = Date()) throws -> Status {
        let snapshot = state.withLock { state in
            (config: state.config, running: state.running.keys.sorted(), shuttingDown: state.shuttingDown, reloads: state.reloads,
             reloadFailures: state.reloadFailures, lastReloadError: state.lastReloadError, plans: state.plans, lastTick: state.lastTick,
             ticks: state.ticks, lastTickMs: state.lastTickMilliseconds)
        }
        let store = StateStore(config: snapshot.config, environment: environment)
        // What can continue (the index keeps those records), then the newest ended ones, read now.
        let entries = try records.look(store)
        let active = entries.compactMap(\.record)
        let endedIDs = entries.filter { $0.record == nil }.prefix(min(50, max(0, 100 - active.count))).map(\.id)
        let read = Dictionary(try store.changeovers(ids: Array(endedIDs)).map { ($0.record.id, $0.record) }, uniquingKeysWith: { a, _ in a })
        let shown = active + endedIDs.compactMap { read[$0] }
        return Status(
            daemon: DaemonInfo(pid: getpid(), startedAt: startedAt, config: configPath, concurrency: (snapshot.config.daemon ?? DaemonSettings()).concurrency,
                               running: snapshot.running, shuttingDown: snapshot.shuttingDown, reloads: snapshot.reloads,
                               reloadFailures: snapshot.reloadFailures, lastReloadError: snapshot.lastReloadError, lastTick: snapshot.lastTick,
                               ticks: snapshot.ticks, lastTickMs: snapshot.lastTickMs.map { ($0 * 10).rounded() / 10 }),
            changeovers: shown.prefix(100).sorted { $0.startedAt > $1.startedAt }
                .map { ChangeoverStatus($0, store: store, now: now, plan: snapshot.plans[$0.id]?.text(at: now), config: snapshot.config.path) },
            campaigns: Self.shownCampaigns(try store.campaigns())
                .map { CampaignStatus($0, store: store, config: snapshot.config, now: now, detail: false) })
    }

    /// Routes a request that passed the token check.
    public func handle(_ path: String) -> StatusServer.Response {
        do {
            switch path {
            case "/status":
                return try Self.json(status())
            case "/timeline":
                return try Self.json(timeline())
            case "/metrics":
                return StatusServer.Response(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Array(try metrics().utf8))
            default:
                if let id = Self.auditID(path) {
                    guard let records = try audit(of: id) else { return .text(404, "no audit records of \(id)\n") }
                    return try Self.json(records)
                }
                return .text(404, "not found: GET /status, /timeline, /metrics or /changeovers/ID/audit\n")
            }
        } catch {
            return .text(500, "cannot read the state store: \(error)\n")
        }
    }

    /// Answers what is served without the token: the page's three files (no data in them) and
    /// `/healthz`, which says only whether the daemon runs. Nil: the token is needed.
    public func handleOpen(_ path: String) -> StatusServer.Response? {
        switch path {
        case "/", "/index.html":
            return StatusServer.Response(status: 200, contentType: "text/html; charset=utf-8", body: Array(StatusPage.html.utf8))
        case "/app.js":
            return StatusServer.Response(status: 200, contentType: "text/javascript; charset=utf-8", body: Array(StatusPage.script.utf8))
        case "/app.css":
            return StatusServer.Response(status: 200, contentType: "text/css; charset=utf-8", body: Array(StatusPage.style.utf8))
        case "/healthz":
            let stopping = state.withLock { $0.shuttingDown }
            return stopping ? .text(503, "stopping\n") : .text(200, "running\n")
        default:
            return nil
        }
    }

    /// The changeover id in `/changeovers/ID/audit`, if the path is one.
    static func auditID(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "changeovers", parts[3] == "audit", !parts[2].isEmpty,
              let id = String(parts[2]).removingPercentEncoding, !id.contains("/")
        else { return nil }
        return id
    }

    static func json(_ value: some Encodable) throws -> StatusServer.Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return StatusServer.Response(status: 200, contentType: "application/json", body: Array(try encoder.encode(value)) + [10])
    }

    /// The metrics as Prometheus text.
    public func metrics() throws -> String {
        let snapshot = state.withLock { state in
            (config: state.config, running: state.running.count, reloads: state.reloads, reloadFailures: state.reloadFailures,
             outcomes: state.outcomes, windows: state.windows)
        }
        let store = StateStore(config: snapshot.config, environment: environment)
        let records = try store.changeovers()
        var text = MetricsText()
        text.gauge("changeover_up", "Whether the daemon runs.", [([:], 1)])
        var byStep: [String: Int] = [:]
        for step in ChangeoverStep.allCases { byStep[step.rawValue] = 0 }
        for record in records { byStep[record.machine.step.rawValue, default: 0] += 1 }
        text.gauge("changeover_changeovers", "Changeovers in the state store, by step (pending = scheduled, not started).",
                   byStep.sorted { $0.key < $1.key }.map { (["step": $0.key], Double($0.value)) })
        var byState: [String: Int] = ["scheduled": 0, "running": 0, "stopped": 0, "prepared": 0, "interrupted": 0, "ended": 0,
                                      "rollback unfinished": 0]
        for record in records { byState[ChangeoverStatus(record, store: store, now: Date()).state, default: 0] += 1 }
        text.gauge("changeover_changeovers_by_state", "Changeovers in the state store, by state as `status` says it.",
                   byState.sorted { $0.key < $1.key }.map { (["state": $0.key], Double($0.value)) })
        text.gauge("changeover_running", "Changeovers this daemon drives now.", [([:], Double(snapshot.running))])
        text.gauge("changeover_concurrency_limit", "The most changeovers the daemon drives at once.",
                   [([:], Double((snapshot.config.daemon ?? DaemonSettings()).concurrency))])
        var pauses: [(String, Double)] = []
        var seen = Set<String>()
        for record in records where record.machine.step == .done && !seen.contains(record.database) {
            seen.insert(record.database)
            if let ms = Double(record.facts["writePause.ms"] ?? "") { pauses.append((record.database, ms / 1000)) }
        }
        text.gauge("changeover_last_write_pause_seconds", "The write pause (fence to clients repointed) of each database's last completed changeover.",
                   pauses.sorted { $0.0 < $1.0 }.map { (["database": $0.0], $0.1) })
        let retries = records.reduce(0) { $0 + $1.timings.reduce(0) { $0 + ($1.retries ?? 0) } }
        text.counter("changeover_retries_total", "Remote calls tried again after a transient failure, over the changeovers in the state store.",
                     [([:], Double(retries))])
        let forced = records.filter { $0.facts["window.decision"] == "forced" }.count
        text.counter("changeover_forced_total", "Switchovers a deadline forced outside a maintenance window.", [([:], Double(forced))])
        text.counter("changeover_daemon_outcomes_total", "Changeovers this daemon drove until they ended or stopped, by outcome.",
                     ["completed", "aborted", "failed", "stopped", "error"].map { (["outcome": $0], Double(snapshot.outcomes[$0] ?? 0)) })
        text.counter("changeover_config_reloads_total", "Config reloads (SIGHUP), by result.",
                     [(["result": "ok"], Double(snapshot.reloads)), (["result": "refused"], Double(snapshot.reloadFailures))])
        // Unfinished campaigns only: a finished one's figures no longer change.
        let campaigns = try store.campaigns().filter { !$0.isFinished }
        var members: [([String: String], Double)] = []
        for campaign in campaigns {
            var counts: [String: Int] = ["done": 0, "failed": 0, "skipped": 0, "in flight": 0, "waiting": 0]
            for member in campaign.members {
                counts[member.outcome?.rawValue ?? (member.inFlight ? "in flight" : "waiting"), default: 0] += 1
            }
            members += counts.sorted { $0.key < $1.key }.map { (["campaign": campaign.id, "outcome": $0.key], Double($0.value)) }
        }
        text.gauge("changeover_campaign_members", "Members of each unfinished campaign, by outcome (in flight: a changeover under way; waiting: none yet).",
                   members)
        text.gauge("changeover_campaign_wave", "The wave each unfinished campaign is at, from 1.",
                   campaigns.map { (["campaign": $0.id, "state": $0.effectiveState], Double(min($0.current + 1, $0.waves.count))) })
        text.gauge("changeover_next_window_timestamp_seconds", "When the window each scheduled changeover targets opens (its deadline if no window fits first), Unix time.",
                   snapshot.windows.sorted { $0.key < $1.key }.map { (["changeover": $0.key, "database": $0.value.database], $0.value.start.timeIntervalSince1970) })
        return text.text
    }
}

/// Prometheus text exposition: HELP, TYPE, samples with escaped label values.
struct MetricsText {
    private(set) var text = ""

    mutating func gauge(_ name: String, _ help: String, _ samples: [([String: String], Double)]) {
        family(name, "gauge", help, samples)
    }

    mutating func counter(_ name: String, _ help: String, _ samples: [([String: String], Double)]) {
        family(name, "counter", help, samples)
    }

    private mutating func family(_ name: String, _ type: String, _ help: String, _ samples: [([String: String], Double)]) {
        text += "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        text += "# TYPE \(name) \(type)\n"
        for (labels, value) in samples {
            let rendered = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escape($0.value))\"" }.joined(separator: ",")
            text += "\(name)\(rendered.isEmpty ? "" : "{\(rendered)}") \(Self.format(value))\n"
        }
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
