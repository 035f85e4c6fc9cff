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
        /// How long the first tick took in ms (it records the config's `schedule:` entries).
        public var firstTickMs: Double?
    }

    public struct Status: Encodable, Sendable {
        public var daemon: DaemonInfo
        /// Every changeover under way, the 50 newest ended, and scheduled ones up to 100 in all;
        /// newest first.
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
            (
                config: state.config, running: state.running.keys.sorted(), shuttingDown: state.shuttingDown,
                reloads: state.reloads,
                reloadFailures: state.reloadFailures, lastReloadError: state.lastReloadError, plans: state.plans,
                lastTick: state.lastTick,
                ticks: state.ticks, lastTickMs: state.lastTickMilliseconds, firstTickMs: state.firstTickMilliseconds
            )
        }
        let store = StateStore(config: snapshot.config, environment: environment)
        // Every changeover under way and the 50 newest ended ones (read now: the index keeps only
        // the records that can continue), then as many scheduled ones as fit in 100: with
        // thousands scheduled, what runs and what ended still show.
        // One pass over the entries, read in place: only the records that may be shown are
        // copied out (copying each of thousands of pending ones was most of the answer's work).
        let entries = try records.look(store)
        var underWay: [ChangeoverRecord] = []
        var pending: [ChangeoverRecord] = []
        var endedIDs: [String] = []
        for index in entries.indices {
            if !entries[index].canContinue {
                if endedIDs.count < 50 { endedIDs.append(entries[index].id) }
            } else if entries[index].step != .pending {
                if let record = entries[index].record { underWay.append(record) }
            } else if pending.count < 100, let record = entries[index].record {
                pending.append(record)
            }
        }
        let read = Dictionary(
            try store.changeovers(ids: endedIDs).map { ($0.record.id, $0.record) }, uniquingKeysWith: { a, _ in a })
        let ended = endedIDs.compactMap { read[$0] }
        let shown = underWay + ended + pending.prefix(max(0, 100 - underWay.count - ended.count))
        return Status(
            daemon: DaemonInfo(
                pid: getpid(), startedAt: startedAt, config: configPath,
                concurrency: (snapshot.config.daemon ?? DaemonSettings()).concurrency,
                running: snapshot.running, shuttingDown: snapshot.shuttingDown, reloads: snapshot.reloads,
                reloadFailures: snapshot.reloadFailures, lastReloadError: snapshot.lastReloadError,
                lastTick: snapshot.lastTick,
                ticks: snapshot.ticks, lastTickMs: snapshot.lastTickMs.map { ($0 * 10).rounded() / 10 },
                firstTickMs: snapshot.firstTickMs.map { ($0 * 10).rounded() / 10 }),
            changeovers: shown.sorted { $0.startedAt > $1.startedAt }
                .map {
                    ChangeoverStatus(
                        $0, store: store, now: now, plan: snapshot.plans[$0.id]?.text(at: now),
                        config: snapshot.config.path)
                },
            campaigns: Self.shownCampaigns(try store.campaigns())
                .map {
                    CampaignStatus($0, store: store, config: snapshot.config, now: now, detail: false, estimate: true)
                })
    }

    /// Routes a request that passed the token check: `target` is its path and query.
    public func handle(_ target: String) -> StatusServer.Response {
        let split = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(split.first ?? "")
        do {
            switch path {
            case "/status":
                return try Self.json(status())
            case "/timeline":
                guard let page = TimelinePage(query: split.count > 1 ? String(split[1]) : "") else {
                    return .text(400, "offset and limit are whole numbers, limit 1 to \(TimelinePage.maximum)\n")
                }
                return try Self.json(timeline(page: page))
            case "/metrics":
                return StatusServer.Response(
                    status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: Array(try metrics().utf8))
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
            return StatusServer.Response(
                status: 200, contentType: "text/html; charset=utf-8", body: Array(StatusPage.html.utf8))
        case "/app.js":
            return StatusServer.Response(
                status: 200, contentType: "text/javascript; charset=utf-8", body: Array(StatusPage.script.utf8))
        case "/app.css":
            return StatusServer.Response(
                status: 200, contentType: "text/css; charset=utf-8", body: Array(StatusPage.style.utf8))
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
        return StatusServer.Response(
            status: 200, contentType: "application/json", body: Array(try encoder.encode(value)) + [10])
    }

    /// What "fleet-wide" means in a HELP line: read from the state store, which several daemons
    /// may share. Each of them exports the same figure; `sum()` over daemons would count it
    /// once per daemon.
    static let fleetWide =
        " Fleet-wide (read from the state store): daemons sharing a store export the same value; aggregate with max(), not sum()."

    /// The metrics as Prometheus text. Label values never hold spaces, and no series is kept per
    /// changeover (ids grow without bound): per database, step, state or campaign at most.
    public func metrics() throws -> String {
        let snapshot = state.withLock { state in
            (
                config: state.config, running: state.running.count, reloads: state.reloads,
                reloadFailures: state.reloadFailures,
                outcomes: state.outcomes, windows: state.windows, windowsGeneration: state.windowsGeneration,
                rendered: state.renderedWindows,
                ticks: state.tickDurations, lastTickMs: state.lastTickMilliseconds
            )
        }
        let store = StateStore(config: snapshot.config, environment: environment)
        // The index the tick and `/status` keep: only records whose row changed are decoded.
        let records = try self.records.look(store)
        let now = Date()
        var text = MetricsText()
        text.gauge("changeover_up", "Whether the daemon runs.", [([:], 1)])
        text.gauge(
            "changeover_build_info",
            "The daemon's version and the commit it was built from (unknown: built without make).",
            [(["version": build.version, "commit": build.commit ?? "unknown"], 1)])
        var byStep: [String: Int] = [:]
        for step in ChangeoverStep.allCases { byStep[step.rawValue] = 0 }
        for record in records { byStep[record.step.rawValue, default: 0] += 1 }
        text.gauge(
            "changeover_changeovers",
            "Changeovers in the state store, by step (pending = scheduled, not started)." + Self.fleetWide,
            byStep.sorted { $0.key < $1.key }.map { (["step": $0.key], Double($0.value)) })
        var byState: [ChangeoverStatus.State: Int] = [:]
        for state in ChangeoverStatus.State.allCases { byState[state] = 0 }
        for entry in records {
            // The lock is read only for changeovers under way: a pending one with a policy is
            // scheduled (a controller that holds it this instant is about to start it).
            let state: ChangeoverStatus.State
            if let record = entry.record {
                state =
                    record.machine.step == .pending && record.policy != nil
                    ? .scheduled
                    : .of(record, controlled: store.lockHolder(database: record.database)?.changeover == record.id)
            } else {
                state = entry.rollbackUnfinished ? .rollbackUnfinished : .ended
            }
            byState[state, default: 0] += 1
        }
        text.gauge(
            "changeover_changeovers_by_state",
            "Changeovers in the state store, by state as `status` says it (spaces as _)." + Self.fleetWide,
            byState.map { ($0.key.rawValue, $0.value) }.sorted { $0.0 < $1.0 }.map {
                (["state": MetricsText.labelValue($0.0)], Double($0.1))
            })
        text.gauge("changeover_running", "Changeovers this daemon drives now.", [([:], Double(snapshot.running))])
        text.gauge(
            "changeover_concurrency_limit", "The most changeovers the daemon drives at once.",
            [([:], Double((snapshot.config.daemon ?? DaemonSettings()).concurrency))])
        var pauses: [(String, Double)] = []
        var seen = Set<String>()
        var pauseHistogram = Histogram(bounds: Histogram.pauseBounds)
        var stepHistograms: [String: Histogram] = [:]
        for record in records {
            for timing in record.timings {
                stepHistograms[timing.step.rawValue, default: Histogram(bounds: Histogram.stepBounds)].observe(
                    timing.milliseconds / 1000)
            }
            guard let ms = record.writePauseMilliseconds else { continue }
            pauseHistogram.observe(ms / 1000)
            if seen.insert(record.database).inserted { pauses.append((record.database, ms / 1000)) }
        }
        text.histogram(
            "changeover_write_pause_seconds",
            "Write pauses (fence to clients repointed) of the completed changeovers in the state store."
                + Self.fleetWide,
            [([:], pauseHistogram)])
        text.histogram(
            "changeover_step_duration_seconds",
            "How long each step took, over the changeovers in the state store." + Self.fleetWide,
            stepHistograms.sorted { $0.key < $1.key }.map { (["step": $0.key], $0.value) })
        text.histogram(
            "changeover_tick_duration_seconds",
            "How long this daemon's ticks took (the sleep between two not counted).",
            [([:], snapshot.ticks)])
        text.gauge(
            "changeover_last_tick_duration_seconds", "How long this daemon's last tick took.",
            snapshot.lastTickMs.map { [([:], $0 / 1000)] } ?? [])
        text.gauge(
            "changeover_last_write_pause_seconds",
            "The write pause (fence to clients repointed) of each database's last completed changeover."
                + Self.fleetWide,
            pauses.sorted { $0.0 < $1.0 }.map { (["database": $0.0], $0.1) })
        let retries = records.reduce(0) { $0 + $1.timings.reduce(0) { $0 + ($1.retries ?? 0) } }
        text.counter(
            "changeover_retries_total",
            "Remote calls tried again after a transient failure, over the changeovers in the state store."
                + Self.fleetWide,
            [([:], Double(retries))])
        let forced = records.filter(\.forced).count
        text.counter(
            "changeover_forced_total", "Switchovers a deadline forced outside a maintenance window." + Self.fleetWide,
            [([:], Double(forced))])
        text.counter(
            "changeover_daemon_outcomes_total",
            "Changeovers this daemon drove until they ended or stopped, by outcome.",
            ["completed", "aborted", "failed", "stopped", "error"].map {
                (["outcome": $0], Double(snapshot.outcomes[$0] ?? 0))
            })
        text.counter(
            "changeover_config_reloads_total", "Config reloads (SIGHUP), by result.",
            [(["result": "ok"], Double(snapshot.reloads)), (["result": "refused"], Double(snapshot.reloadFailures))])
        // Unfinished campaigns only: a finished one's figures no longer change.
        let campaigns = try store.campaigns().filter { !$0.isFinished }
        var members: [([String: String], Double)] = []
        for campaign in campaigns {
            var counts: [String: Int] = ["done": 0, "failed": 0, "skipped": 0, "in_flight": 0, "waiting": 0]
            for member in campaign.members {
                counts[member.outcome?.rawValue ?? (member.inFlight ? "in_flight" : "waiting"), default: 0] += 1
            }
            members += counts.sorted { $0.key < $1.key }.map {
                (["campaign": campaign.id, "outcome": $0.key], Double($0.value))
            }
        }
        text.gauge(
            "changeover_campaign_members",
            "Members of each unfinished campaign, by outcome (in_flight: a changeover under way; waiting: none yet)."
                + Self.fleetWide,
            members)
        text.gauge(
            "changeover_campaign_wave", "The wave each unfinished campaign is at, from 1." + Self.fleetWide,
            campaigns.map {
                (
                    ["campaign": $0.id, "state": MetricsText.labelValue($0.effectiveState)],
                    Double(min($0.current + 1, $0.waves.count))
                )
            })
        // One series per database: thousands, which change only when a tick plans again, so
        // written once per plan.
        if let rendered = snapshot.rendered, rendered.generation == snapshot.windowsGeneration {
            text.append(rendered.text)
        } else {
            let rendered = Self.nextWindowMetrics(snapshot.windows)
            state.withLock { state in
                if state.windowsGeneration == snapshot.windowsGeneration {
                    state.renderedWindows = (snapshot.windowsGeneration, rendered)
                }
            }
            text.append(rendered)
        }
        return text.text
    }

    /// `changeover_next_window_timestamp_seconds`: one series per database (the earliest its
    /// scheduled changeovers target), not per changeover.
    static func nextWindowMetrics(_ windows: [String: (database: String, start: Date)]) -> MetricsText {
        var nextWindow: [String: Date] = [:]
        nextWindow.reserveCapacity(windows.count)
        for window in windows.values {
            nextWindow[window.database] = min(nextWindow[window.database] ?? window.start, window.start)
        }
        var text = MetricsText()
        text.gauge(
            "changeover_next_window_timestamp_seconds",
            "When the window the database's scheduled changeover targets opens (its deadline if no window fits first), Unix time; as this daemon planned it.",
            label: "database", nextWindow.sorted { $0.key < $1.key }.map { ($0.key, $0.value.timeIntervalSince1970) })
        return text
    }
}

/// Prometheus text exposition: HELP, TYPE, samples with escaped label values.
struct MetricsText {
    private(set) var text = ""

    mutating func gauge(_ name: String, _ help: String, _ samples: [([String: String], Double)]) {
        family(name, "gauge", help, samples)
    }

    /// A gauge with one label: thousands of series (one per database) written without a
    /// dictionary each.
    mutating func gauge(_ name: String, _ help: String, label: String, _ samples: [(String, Double)]) {
        header(name, "gauge", help)
        text.reserveCapacity(text.utf8.count + samples.count * (name.utf8.count + label.utf8.count + 32))
        for (value, sample) in samples {
            text += name
            text += "{"
            text += label
            text += "=\""
            text += Self.escape(value)
            text += "\"} "
            text += Self.format(sample)
            text += "\n"
        }
    }

    /// Another text's families after these.
    mutating func append(_ other: MetricsText) {
        text += other.text
    }

    mutating func counter(_ name: String, _ help: String, _ samples: [([String: String], Double)]) {
        family(name, "counter", help, samples)
    }

    /// A histogram family: `_bucket` per bound and `+Inf`, `_sum`, `_count`, for each label set.
    mutating func histogram(_ name: String, _ help: String, _ series: [([String: String], Histogram)]) {
        header(name, "histogram", help)
        for (labels, histogram) in series {
            for (bound, count) in zip(histogram.bounds, histogram.counts) {
                sample("\(name)_bucket", labels.merging(["le": Self.format(bound)]) { a, _ in a }, Double(count))
            }
            sample("\(name)_bucket", labels.merging(["le": "+Inf"]) { a, _ in a }, Double(histogram.count))
            sample("\(name)_sum", labels, histogram.sum)
            sample("\(name)_count", labels, Double(histogram.count))
        }
    }

    /// A label value as exported: words joined by `_` (a space in a label value is legal but
    /// awkward in every query language that reads it).
    static func labelValue(_ value: String) -> String {
        value.split(whereSeparator: \.isWhitespace).joined(separator: "_")
    }

    private mutating func family(
        _ name: String, _ type: String, _ help: String, _ samples: [([String: String], Double)]
    ) {
        header(name, type, help)
        for (labels, value) in samples { sample(name, labels, value) }
    }

    private mutating func header(_ name: String, _ type: String, _ help: String) {
        text +=
            "# HELP \(name) \(help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n"))\n"
        text += "# TYPE \(name) \(type)\n"
    }

    private mutating func sample(_ name: String, _ labels: [String: String], _ value: Double) {
        text += name
        if !labels.isEmpty {
            text += "{"
            for (index, key) in labels.keys.sorted().enumerated() {
                if index > 0 { text += "," }
                text += key
                text += "=\""
                text += Self.escape(labels[key]!)
                text += "\""
            }
            text += "}"
        }
        text += " "
        text += Self.format(value)
        text += "\n"
    }

    static func escape(_ value: String) -> String {
        // Most values (database names, steps) need nothing: looked at once, not copied three times.
        guard
            value.utf8.contains(where: {
                $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n")
            })
        else {
            return value
        }
        return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }
}
