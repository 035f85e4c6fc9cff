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
            var runner = ChangeoverRunner(config: try fleet.load()) { Output.progress($0, json: json) }
            await RunnerSetup.driving(&runner)
            let summary = try await runner.resume(id: id)
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}
