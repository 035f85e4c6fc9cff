import ArgumentParser
import ChangeoverCore

struct PrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract:
            "Provision a follower on the new image and let it catch up, without switching; `switch` cuts over later.",
        discussion: """
            Ends once the follower has caught up (exit 0): it keeps streaming from the primary. \
            `changeover switch ID --now` cuts over at once, `changeover switch ID` in the next maintenance \
            window; `changeover abort ID --yes` removes the follower.
            """)

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The database to change over.") var database: String
    @Option(help: "The image to change over to.") var image: String
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false

    func run() async throws {
        try await reporting {
            let json = self.json
            var runner = ChangeoverRunner(config: try fleet.load()) { Output.progress($0, json: json) }
            await RunnerSetup.driving(&runner)
            let summary = try await runner.run(database: database, image: image, policy: SwitchPolicy(mode: .hold))
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}
