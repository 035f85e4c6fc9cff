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
    @Flag(
        help:
            "Record the changeover and run it here, switching only inside the database's maintenance window (the follower is provisioned its lead time before)."
    )
    var inWindow = false
    @Option(
        help:
            "With --in-window: if no window with room opens before this ISO 8601 instant, switch then anyway (the audit log says forced)."
    )
    var deadline: String?
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false
    @Option(
        help:
            "How progress is written: text, or json (one JSON object a line on stderr: time, level, changeover, database, step, message)."
    )
    var logFormat: LogFormat = .text

    func validate() throws {
        guard now != inWindow else {
            throw ValidationError(
                "pass --now (switch as soon as caught up) or --in-window (switch in the maintenance window)")
        }
        if deadline != nil, !inWindow { throw ValidationError("--deadline goes with --in-window") }
        if let deadline { _ = try Deadline.parse(deadline) }
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let json = self.json
            var runner: ChangeoverRunner
            if logFormat == .json {
                logFormat.bootstrap(level: .info)
                let log = EventLog()
                runner = ChangeoverRunner(config: config) { event in log.write(event) }
            } else {
                runner = ChangeoverRunner(config: config) { event in Output.progress(event, json: json) }
            }
            await RunnerSetup.driving(&runner)
            guard inWindow else {
                return try RunCommand.report(
                    try await runner.run(database: database, image: image), json: json, config: runner.config)
            }
            let policy = SwitchPolicy(mode: .window, deadline: try deadline.map(Deadline.parse))
            let record = try runner.schedule(
                database: database, image: image, policy: policy, source: "run --in-window")
            let write: (String) -> Void =
                logFormat == .json
                ? {
                    JSONLogHandler.standardError(
                        JSONLogHandler.Line(level: .info, changeover: record.id, database: database, message: $0)
                            .encoded)
                }
                : json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { Output.line($0) }
            write(
                "changeover \(record.id): \(database) \(record.fromImage) → \(record.toImage), in the maintenance window"
            )
            await runner.notifyScheduled(record)
            try await RunCommand.waitForLead(record, runner: runner, write: write)
            try RunCommand.report(try await runner.start(id: record.id), json: json, config: runner.config)
        }
    }
}
