import ArgumentParser
import ChangeoverCore
import Foundation

struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Record a changeover for the daemon to run in the database's maintenance window.",
        discussion: """
            The daemon provisions the follower its lead time before the first window with room for the \
            switchover, keeps it caught up, and switches inside the window. With --deadline, a changeover \
            for which no such window opens before the deadline is switched at the deadline, and the audit \
            log says it was forced and why. `status` shows what it waits for; `abort ID --yes` cancels it.
            """)

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The database to change over.") var database: String
    @Option(help: "The image to change over to.") var image: String
    @Option(help: "An ISO 8601 instant (2026-05-01T22:00:00Z): switch then if no window with room opens before it.")
    var deadline: String?
    @Flag(help: "Print the recorded changeover as JSON.") var json = false

    func validate() throws {
        if let deadline { _ = try Deadline.parse(deadline) }
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let runner = ChangeoverRunner(config: config) { Output.progress($0, json: true) }
            let policy = SwitchPolicy(mode: .window, deadline: try deadline.map(Deadline.parse))
            let record = try runner.schedule(
                database: database, image: image, policy: policy, source: "schedule by \(runner.actor)")
            await runner.notifyScheduled(record)
            let plan = runner.startPlan(for: record, dataBytes: nil)
            let text = plan.describe(
                gate: runner.gate(for: record, database: try config.database(database)), at: runner.now(),
                zone: ChangeoverRunner.zone(of: try config.database(database)))
            if json {
                return try Output.json(
                    ChangeoverStatus(
                        record, store: runner.store, now: runner.now(), plan: text, config: runner.config.path))
            }
            Output.line("changeover \(record.id) scheduled: \(database) \(record.fromImage) → \(record.toImage)")
            Output.line("  \(text)")
        }
    }
}
