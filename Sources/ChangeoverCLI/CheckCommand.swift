import ArgumentParser
import ChangeoverCore
import Foundation

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the config without touching a server; with --connect, every database's preflight too.",
        discussion: """
            Offline: the whole config parses and resolves, every secret is readable (a file only by its owner), \
            every image's bin directory holds its servers' binaries, each database's next window opening, the \
            databases and images of unfinished campaigns. --connect adds each database's preflight (read-only, \
            several databases at once), one line per database. Exit 0 when everything passes, 2 when the config \
            or what it points to is wrong, 3 when a preflight fails (a primary unreachable, replication not possible).
            """)

    @OptionGroup var fleet: FleetOptions
    @Option(help: "Check only this database.") var database: String?
    @Flag(help: "Also run every database's preflight against its servers (read-only).") var connect = false
    @Option(help: "With --connect: how many databases are checked at once.") var parallel = 8
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...64).contains(parallel) else { throw ValidationError("--parallel must be 1…64") }
    }

    /// What `--json` prints.
    struct Report: Encodable {
        var schemaVersion = 1
        var config: String
        var passed: Bool
        var checks: [FleetCheck]
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            if let database { _ = try config.database(database) }
            let environment = ProcessInfo.processInfo.environment
            let campaigns = try StateStore(config: config, environment: environment).campaigns()
            var checks = [
                FleetCheck(
                    .config, config.path ?? fleet.config, passed: true,
                    "\(config.databases.count) database(s), \(config.images.count) image(s), provisioner \(config.provisioner.kind.rawValue)"
                )
            ]
            checks += FleetCheck.offline(
                config, only: database, campaigns: campaigns, now: Date(), environment: environment)
            let offlineFailed = checks.contains { !$0.passed }
            if connect {
                let names = database.map { [$0] } ?? config.databases.keys.sorted()
                checks += await FleetCheck.preflight(
                    names, runner: ChangeoverRunner(config: config, environment: environment), parallel: parallel)
            }
            if json {
                try Output.json(
                    Report(config: config.path ?? fleet.config, passed: checks.allSatisfy(\.passed), checks: checks))
            } else {
                for check in checks {
                    Output.line(
                        "\(check.passed ? "ok  " : "FAIL") \(check.scope.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)) \(check.subject): \(check.detail)"
                    )
                }
            }
            let failed = checks.filter { !$0.passed }
            guard !failed.isEmpty else { return }
            var names: [String] = []
            for check in failed where !names.contains("\(check.scope.rawValue) \(check.subject)") {
                names.append("\(check.scope.rawValue) \(check.subject)")
            }
            if offlineFailed { throw Failure(.badInput, "check failed: \(names.joined(separator: ", "))") }
            throw Failure(.preflight, "preflight failed: \(names.joined(separator: ", "))")
        }
    }
}
