import ArgumentParser
import ChangeoverCore
import Foundation

struct RetireCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retire",
        abstract:
            "Let go of old primaries whose grace period (retireAfter) is over: a Redis replica is shut down, a stopped Postgres node this controller made is removed."
    )

    @OptionGroup var fleet: FleetOptions
    @Option(help: "Only this database's changeovers.") var database: String?
    @Flag(help: "Retire now, before the grace period is over.") var now = false

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            if let database { _ = try config.database(database) }
            let lines = try await ChangeoverRunner(config: config).retire(database: database, force: now)
            if lines.isEmpty { Output.line("no old primary is waiting to be retired") }
            for line in lines { Output.line(line) }
        }
    }
}
