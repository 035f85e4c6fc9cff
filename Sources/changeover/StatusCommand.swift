import ArgumentParser
import ChangeoverCore
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a changeover's step, what it waits for and its last error, or list recent changeovers.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "A changeover id; without it, the recent changeovers.") var id: String?
    @Flag(help: "Print JSON.") var json = false

    /// A changeover as `status` reports it: the stored record and what is true right now.
    struct Report: Encodable {
        var record: ChangeoverRecord
        /// running (a live controller holds the database), interrupted (no controller; resume or
        /// abort it), or ended.
        var state: String
        var controller: LockHolder?
        var secondsInStep: Double
        var waitingFor: String?
        /// The latest retry of a remote call in the current step of a changeover not ended.
        var retrying: RetryNote?

        init(_ record: ChangeoverRecord, store: StateStore, now: Date) {
            self.record = record
            let holder = store.lockHolder(database: record.database)
            controller = holder?.changeover == record.id ? holder : nil
            state = controller != nil ? "running" : record.machine.rollbackUnfinished == true ? "rollback unfinished"
                : record.machine.step.isTerminal ? "ended" : "interrupted"
            secondsInStep = now.timeIntervalSince(record.updatedAt)
            if controller == nil, record.machine.rollbackUnfinished == true {
                waitingFor = "an operator: the rollback could not finish; run `changeover abort \(record.id)` once the old primary is reachable"
            }
            if !record.machine.step.isTerminal, let note = store.lastRetry(of: record.id), note.at >= record.updatedAt {
                retrying = note
            }
            if !record.machine.step.isTerminal {
                waitingFor = controller != nil ? (store.progress(of: record.id) ?? record.machine.step.summary)
                    : "an operator: run `changeover resume \(record.id)` or `changeover abort \(record.id)`"
            }
        }
    }

    func run() async throws {
        try await reporting {
            let store = StateStore(directory: try fleet.load().stateDirectory)
            let now = Date()
            if let id {
                guard let record = try store.changeover(id) else { throw Failure(.badInput, "no changeover \(id)") }
                let report = Report(record, store: store, now: now)
                if json { return try Output.json(report) }
                Output.line("changeover \(record.id): \(record.database) \(record.fromImage) → \(record.toImage)")
                Output.line("  state    \(report.state)" + (report.controller.map { " (\($0.actor))" } ?? ""))
                Output.line("  step     \(record.machine.step) for \(String(format: "%.0f", report.secondsInStep)) s: \(record.machine.step.summary)")
                if let waiting = report.waitingFor { Output.line("  waiting  \(waiting)") }
                if let note = report.retrying { Output.line("  retrying \(note)") }
                if let failure = record.machine.failure {
                    Output.line("  error    \(record.machine.failedStep.map { "\($0): " } ?? "")\(failure)")
                }
                for timing in record.timings {
                    Output.line("  \(timing.step.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)) \(Output.ms(timing.milliseconds)) \(timing.outcome)"
                        + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? ""))
                }
                for (key, value) in record.facts.sorted(by: { $0.key < $1.key }) { Output.line("  \(key) = \(value)") }
            } else {
                let reports = try store.changeovers().prefix(20).map { Report($0, store: store, now: now) }
                if json { return try Output.json(Array(reports)) }
                for report in reports {
                    let record = report.record
                    Output.line("\(record.id)  \(report.state.padding(toLength: 11, withPad: " ", startingAt: 0)) "
                        + "\(record.machine.step.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0))  \(record.fromImage) → \(record.toImage)")
                }
            }
        }
    }
}
