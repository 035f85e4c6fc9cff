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
            let runner = ChangeoverRunner(config: config) { RunCommand.show($0, json: true) }
            let policy = SwitchPolicy(mode: .window, deadline: try deadline.map(Deadline.parse))
            let record = try runner.schedule(database: database, image: image, policy: policy, source: "schedule by \(runner.actor)")
            await runner.notifyScheduled(record)
            let plan = runner.startPlan(for: record, dataBytes: nil)
            let text = plan.describe(gate: runner.gate(for: record, database: try config.database(database)), at: runner.now(),
                                     zone: ChangeoverRunner.zone(of: try config.database(database)))
            if json { return try Output.json(ChangeoverStatus(record, store: runner.store, now: runner.now(), plan: text, config: runner.config.path)) }
            Output.line("changeover \(record.id) scheduled: \(database) \(record.fromImage) → \(record.toImage)")
            Output.line("  \(text)")
        }
    }
}

struct PrepareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Provision a follower on the new image and let it catch up, without switching; `switch` cuts over later.",
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
            var runner = ChangeoverRunner(config: try fleet.load()) { RunCommand.show($0, json: json) }
            runner.stop = await Signals.stopOnTermination()
            FaultInjection.install(in: &runner)
            let summary = try await runner.run(database: database, image: image, policy: SwitchPolicy(mode: .hold))
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}

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
            var runner = ChangeoverRunner(config: try fleet.load()) { RunCommand.show($0, json: json) }
            guard let record = try runner.store.changeover(id) else { throw Failure(.badInput, "no changeover \(id)") }
            guard record.machine.canContinue, !record.machine.step.isTerminal else {
                throw Failure(.badInput, "changeover \(id) already ended (\(record.machine.step))")
            }
            guard ChangeoverStep.forward.firstIndex(of: record.machine.step).map({ $0 <= ChangeoverStep.forward.firstIndex(of: .awaitWindow)! }) ?? true else {
                throw Failure(.badInput, "changeover \(id) is already switching over (\(record.machine.step)); \(runner.config.command("resume", id)) finishes it")
            }
            runner.stop = await Signals.stopOnTermination()
            FaultInjection.install(in: &runner)
            let policy = now ? SwitchPolicy.now : SwitchPolicy(mode: .window, deadline: try deadline.map(Deadline.parse) ?? record.policy?.deadline)
            let summary = try await runner.resume(id: id, policy: policy)
            try RunCommand.report(summary, json: json, config: runner.config)
        }
    }
}
