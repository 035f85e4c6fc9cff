import ArgumentParser
import ChangeoverCore
import Foundation

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Continue a changeover a controller left (killed, crashed), from the step it stopped in.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "The changeover id (see `status`).") var id: String
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false

    func run() async throws {
        try await reporting {
            let json = self.json
            var runner = ChangeoverRunner(config: try fleet.load()) { RunCommand.show($0, json: json) }
            runner.stop = await Signals.stopOnTermination()
            FaultInjection.install(in: &runner)
            let summary = try await runner.resume(id: id)
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}

struct AbortCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "abort",
        abstract: "Roll a changeover back to the old primary (before the promotion only) and remove what it made.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "The changeover id (see `status`).") var id: String
    @Flag(help: "Do not ask for confirmation.") var yes = false
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false

    func run() async throws {
        try await reporting {
            try Confirmation.require(yes, verb: "abort", question: "Roll changeover \(id) back and remove its follower?")
            let json = self.json
            var runner = ChangeoverRunner(config: try fleet.load()) { RunCommand.show($0, json: json) }
            FaultInjection.install(in: &runner)
            let summary = try await runner.abort(id: id, reason: "aborted by \(runner.actor)")
            if json { try Output.json(summary) } else { RunCommand.print(summary) }
            guard summary.outcome == .aborted else {
                throw Failure(.failed, "the rollback did not finish: \(summary.failure ?? "unknown"); changeover \(summary.id) needs an operator")
            }
        }
    }
}
