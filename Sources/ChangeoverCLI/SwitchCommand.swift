import ArgumentParser
import ChangeoverCore
import Foundation

struct SwitchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switch",
        abstract: "Cut a prepared changeover over: now, or in the database's next maintenance window.",
        discussion: "The follower's catch-up is checked again first. Runs in the foreground like `run`.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "The changeover id (see `status`).") var id: String
    @Flag(help: "Switch as soon as the follower is caught up, ignoring maintenance windows.") var now = false
    @Option(help: "Without --now: if no window with room opens before this ISO 8601 instant, switch then anyway.")
    var deadline: String?
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false

    func validate() throws {
        if deadline != nil, now { throw ValidationError("--deadline does not go with --now") }
        if let deadline { _ = try Deadline.parse(deadline) }
    }

    func run() async throws {
        try await reporting {
            let json = self.json
            var runner = ChangeoverRunner(config: try fleet.load()) { Output.progress($0, json: json) }
            await RunnerSetup.driving(&runner)
            let summary = try await runner.switchOver(id: id, now: now, deadline: try deadline.map(Deadline.parse))
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}
