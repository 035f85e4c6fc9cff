import ArgumentParser
import ChangeoverCore
import Foundation

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Provision a follower on the new image, wait for it, switch over, verify.")

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The database to change over.") var database: String
    @Option(help: "The image to change over to.") var image: String
    @Flag(help: "Switch over as soon as the follower has caught up, ignoring maintenance windows.")
    var now = false
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false

    func validate() throws {
        guard now else {
            throw ValidationError("pass --now: scheduling a changeover into a maintenance window is not built yet")
        }
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let json = self.json
            let runner = ChangeoverRunner(config: config) { event in RunCommand.show(event, json: json) }
            let summary = try await runner.run(database: database, image: image)
            try RunCommand.report(summary, json: json)
        }
    }

    /// Prints the summary and turns its outcome into the exit code.
    static func report(_ summary: ChangeoverSummary, json: Bool) throws {
            if json { try Output.json(summary) } else { RunCommand.print(summary) }
            switch summary.outcome {
            case .completed: return
            case .aborted:
                let kind: Failure.Kind = summary.failedStep == .preflight ? .preflight : .aborted
                throw Failure(kind, "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "aborted"); "
                    + (kind == .preflight ? "nothing was touched" : "rolled back, \(summary.oldPrimary) is still the primary"))
            case .failed:
                throw Failure(.failed, "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "failed"); "
                    + (summary.rollbackUnfinished
                        ? "run `changeover abort \(summary.id)` once the old primary is reachable to finish the rollback"
                        : "changeover \(summary.id) needs an operator"))
            }
    }

    static func show(_ event: ChangeoverEvent, json: Bool) {
        let write: (String) -> Void = json
            ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            : { Output.line($0) }
        switch event {
        case .started(let id, let database, let from, let to):
            write("changeover \(id): \(database) \(from) → \(to)")
        case .stepStarted(let step):
            write("• \(step)…")
        case .checks(let checks):
            for check in checks { write("    \(check.passed ? "ok  " : "FAIL") \(check.name): \(check.detail)") }
        case .progress(let text):
            write("    \(text)")
        case .retry(let note):
            write("    retrying \(note)")
        case .stepFinished(let step, let ms, let error):
            write(error.map { "  \(step) failed after \(Output.ms(ms)): \($0)" } ?? "  \(step) done in \(Output.ms(ms))")
        }
    }

    static func print(_ summary: ChangeoverSummary) {
        Output.line()
        Output.line("changeover \(summary.id): \(summary.outcome.rawValue)")
        func row(_ a: String, _ b: String, _ c: String) -> String {
            "  " + a.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 10 - b.count)) + b + "  " + c
        }
        Output.line(row("step", "duration", "outcome"))
        for timing in summary.timings {
            Output.line(row(timing.step.rawValue, Output.ms(timing.milliseconds),
                            timing.outcome + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? "")))
        }
        Output.line("  total        \(Output.ms(summary.totalMilliseconds))")
        if let position = summary.finalPosition { Output.line("  final pos.   \(position)") }
        if let pause = summary.writePauseMilliseconds { Output.line("  write pause  \(Output.ms(pause)) (fence → clients repointed)") }
        if let endpoint = summary.newPrimary {
            Output.line("  new primary  \(endpoint) (\(summary.toImage)); old primary \(summary.oldPrimary) \(summary.facts["old.retired"] == "true" ? "retired" : "kept for rollback")")
        }
        if let failure = summary.failure { Output.line("  failure      \(failure)") }
    }
}
