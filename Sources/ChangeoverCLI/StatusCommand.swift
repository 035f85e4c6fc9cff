import ArgumentParser
import ChangeoverCore
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a changeover's step, what it waits for and its last error, or list recent changeovers.")

    @OptionGroup var fleet: FleetOptions
    @Argument(
        help:
            "A changeover id; `pending`: every database with a changeover waiting, its window and deadline; without it, the recent changeovers."
    )
    var id: String?
    @Option(help: "Only this database's changeovers.") var database: String?
    @Option(
        help:
            "Only changeovers in this state: running, scheduled, stopped (also prepared or interrupted), failed, ended."
    )
    var state: StateFilter?
    @Option(help: "At most this many changeovers, the newest first.") var limit = 20
    @Flag(help: "Print JSON (with a schemaVersion).") var json = false

    typealias Report = ChangeoverStatus

    func validate() throws {
        guard limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        if id != nil, id != "pending", database != nil || state != nil {
            throw ValidationError("--database and --state filter the list; give them without a changeover id")
        }
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let store = StateStore(config: config)
            let now = Date()
            let runner = ChangeoverRunner(config: config)
            let history = try store.changeovers()
            /// What a scheduled changeover waits for: provisioning, then its window.
            func plan(_ record: ChangeoverRecord) -> String? {
                guard record.machine.step == .pending, record.policy != nil,
                    let database = try? config.database(record.database)
                else { return nil }
                return runner.startPlan(for: record, dataBytes: nil)
                    .describe(
                        gate: runner.gate(for: record, database: database), at: now,
                        zone: ChangeoverRunner.zone(of: database))
            }
            if let database { _ = try config.database(database) }
            let matching = history.lazy.filter { database == nil || $0.database == database }
            if id == "pending" {
                let waiting = matching.filter { !$0.machine.step.isTerminal }.map {
                    Report($0, store: store, now: now, plan: plan($0), config: config.path)
                }
                .filter { state?.matches($0) ?? true }
                let pending = PendingMaintenance.list(Array(waiting), runner: runner, now: now).prefix(limit)
                if json { return try Output.json(Listing(changeovers: Array(pending))) }
                if pending.isEmpty { return Output.line("no changeovers waiting") }
                func when(_ date: Date?, _ database: String) -> String {
                    guard let date else { return "-" }
                    guard let zone = try? ChangeoverRunner.zone(of: config.database(database)) else {
                        return ScheduleText.iso(date)
                    }
                    return "\(ScheduleText.local(date, zone)) (\(ScheduleText.iso(date)))"
                }
                Output.table(
                    ["DATABASE", "CHANGEOVER", "STATE", "IMAGES", "SWITCH", "WINDOW", "PROVISION", "DEADLINE"],
                    pending.map { entry in
                        [
                            entry.database, entry.changeover, entry.state.rawValue,
                            "\(entry.fromImage) → \(entry.toImage)",
                            entry.switchMode == "window" ? "in window" : entry.switchMode == "hold" ? "held" : "now",
                            entry.windowStart.map {
                                "\(when($0, entry.database)) for \(ScheduleText.duration(since: $0, until: entry.windowEnd ?? $0))"
                            } ?? "-",
                            when(entry.provisionAt, entry.database), entry.deadline.map(ScheduleText.iso) ?? "-",
                        ]
                    })
                return
            }
            if let id {
                guard let record = try store.changeover(id) else { throw Failure(.badInput, "no changeover \(id)") }
                let report = Report(record, store: store, now: now, plan: plan(record), config: config.path)
                if json { return try Output.json(Single(report: report)) }
                Output.line("changeover \(record.id): \(record.database) \(record.fromImage) → \(record.toImage)")
                Output.line("  state    \(report.state)" + (report.controller.map { " (\($0.actor))" } ?? ""))
                Output.line(
                    "  step     \(record.machine.step) for \(String(format: "%.0f", report.secondsInStep)) s: \(record.machine.step.summary)"
                )
                if let policy = record.policy {
                    Output.line(
                        "  switch   "
                            + (policy.mode == .now
                                ? "as soon as caught up"
                                : policy.mode == .hold
                                    ? "held (prepared): `switch` decides"
                                    : "in the maintenance window")
                            + (policy.deadline.map { ", deadline \(ScheduleText.iso($0))" } ?? ""))
                }
                if let waiting = report.waitingFor { Output.line("  waiting  \(waiting)") }
                if report.state == .scheduled {
                    Output.line(
                        "  daemon   "
                            + DaemonHeartbeat.describe(
                                stateDirectory: config.stateDirectory, now: now, config: config.path))
                }
                if let note = report.retrying { Output.line("  retrying \(note)") }
                if let failure = record.machine.failure {
                    Output.line("  error    \(record.machine.failedStep.map { "\($0): " } ?? "")\(failure)")
                }
                for timing in record.timings {
                    Output.line(
                        "  \(timing.step.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(Output.ms(timing.milliseconds)) \(timing.outcome)"
                            + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? ""))
                }
                for (key, value) in record.facts.sorted(by: { $0.key < $1.key }) { Output.line("  \(key) = \(value)") }
            } else {
                let reports = matching.map { Report($0, store: store, now: now, plan: plan($0), config: config.path) }
                    .filter { state?.matches($0) ?? true }.prefix(limit)
                if json { return try Output.json(Listing(changeovers: Array(reports))) }
                if reports.isEmpty { Output.line("no changeovers") }
                let primaries = (try? store.databases()) ?? [:]
                /// Where the database's primary is now: as the last changeover left it, else the config's.
                func primary(_ record: ChangeoverRecord) -> String {
                    guard let database = try? config.database(record.database) else { return "-" }
                    return Output.hostPort(
                        primaries[record.database]?.primary ?? database.primary.address, engine: database.engine)
                }
                if !reports.isEmpty {
                    Output.table(
                        ["ID", "STATE", "STEP", "PRIMARY NOW", "IMAGES"],
                        reports.map { report in
                            let record = report.record
                            return [
                                record.id, report.state.rawValue, record.machine.step.rawValue, primary(record),
                                "\(record.fromImage) → \(record.toImage)",
                            ]
                        })
                }
                Output.line(
                    "daemon: "
                        + DaemonHeartbeat.describe(stateDirectory: config.stateDirectory, now: now, config: config.path)
                )
            }
        }
    }
}
