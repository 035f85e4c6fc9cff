import ArgumentParser
import ChangeoverCore
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a changeover's step, what it waits for and its last error, or list recent changeovers.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "A changeover id; without it, the recent changeovers.") var id: String?
    @Flag(help: "Print JSON.") var json = false

    typealias Report = ChangeoverStatus

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let store = StateStore(config: config)
            let now = Date()
            let runner = ChangeoverRunner(config: config)
            let history = try store.changeovers()
            /// What a scheduled changeover waits for: provisioning, then its window.
            func plan(_ record: ChangeoverRecord) -> String? {
                guard record.machine.step == .pending, record.policy != nil, let database = try? config.database(record.database) else { return nil }
                return runner.startPlan(for: record, dataBytes: nil)
                    .describe(gate: runner.gate(for: record, database: database), at: now, zone: ChangeoverRunner.zone(of: database))
            }
            if let id {
                guard let record = try store.changeover(id) else { throw Failure(.badInput, "no changeover \(id)") }
                let report = Report(record, store: store, now: now, plan: plan(record), config: config.path)
                if json { return try Output.json(report) }
                Output.line("changeover \(record.id): \(record.database) \(record.fromImage) → \(record.toImage)")
                Output.line("  state    \(report.state)" + (report.controller.map { " (\($0.actor))" } ?? ""))
                Output.line("  step     \(record.machine.step) for \(String(format: "%.0f", report.secondsInStep)) s: \(record.machine.step.summary)")
                if let policy = record.policy {
                    Output.line("  switch   " + (policy.mode == .now ? "as soon as caught up" : policy.mode == .hold ? "held (prepared): `switch` decides"
                        : "in the maintenance window") + (policy.deadline.map { ", deadline \(ScheduleText.iso($0))" } ?? ""))
                }
                if let waiting = report.waitingFor { Output.line("  waiting  \(waiting)") }
                if report.state == "scheduled" {
                    Output.line("  daemon   " + DaemonHeartbeat.describe(stateDirectory: config.stateDirectory, now: now, config: config.path))
                }
                if let note = report.retrying { Output.line("  retrying \(note)") }
                if let failure = record.machine.failure {
                    Output.line("  error    \(record.machine.failedStep.map { "\($0): " } ?? "")\(failure)")
                }
                for timing in record.timings {
                    Output.line("  \(timing.step.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(Output.ms(timing.milliseconds)) \(timing.outcome)"
                        + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? ""))
                }
                for (key, value) in record.facts.sorted(by: { $0.key < $1.key }) { Output.line("  \(key) = \(value)") }
            } else {
                let reports = history.prefix(20).map { Report($0, store: store, now: now, plan: plan($0), config: config.path) }
                if json { return try Output.json(Array(reports)) }
                if reports.isEmpty { Output.line("no changeovers") }
                let primaries = (try? store.databases()) ?? [:]
                /// Where the database's primary is now: as the last changeover left it, else the config's.
                func primary(_ record: ChangeoverRecord) -> String {
                    guard let database = try? config.database(record.database) else { return "-" }
                    return Output.hostPort(primaries[record.database]?.primary ?? database.primary.address, engine: database.engine)
                }
                if !reports.isEmpty {
                    Output.table(["ID", "STATE", "STEP", "PRIMARY NOW", "IMAGES"], reports.map { report in
                        let record = report.record
                        return [record.id, report.state, record.machine.step.rawValue, primary(record), "\(record.fromImage) → \(record.toImage)"]
                    })
                }
                Output.line("daemon: " + DaemonHeartbeat.describe(stateDirectory: config.stateDirectory, now: now, config: config.path))
            }
        }
    }
}
