import ArgumentParser
import ChangeoverCore

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
            try Confirmation.require(
                yes, verb: "abort", question: "Roll changeover \(id) back and remove its follower?")
            let json = self.json
            var runner = ChangeoverRunner(config: try fleet.load()) { Output.progress($0, json: json) }
            RunnerSetup.install(&runner)
            let summary = try await runner.abort(id: id, reason: "aborted by \(runner.actor)")
            if json { try Output.json(summary) } else { Output.summary(summary) }
            guard summary.outcome == .aborted else {
                throw Failure(
                    .failed,
                    "the rollback did not finish: \(summary.failure ?? "unknown"); changeover \(summary.id) needs an operator"
                )
            }
        }
    }
}
