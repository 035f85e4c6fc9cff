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
    @Flag(help: "Record the changeover and run it here, switching only inside the database's maintenance window (the follower is provisioned its lead time before).")
    var inWindow = false
    @Option(help: "With --in-window: if no window with room opens before this ISO 8601 instant, switch then anyway (the audit log says forced).")
    var deadline: String?
    @Flag(help: "Print the summary as JSON (progress goes to stderr).") var json = false
    @Option(help: "How progress is written: text, or json (one JSON object a line on stderr: time, level, changeover, database, step, message).")
    var logFormat: LogFormat = .text

    func validate() throws {
        guard now != inWindow else {
            throw ValidationError("pass --now (switch as soon as caught up) or --in-window (switch in the maintenance window)")
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
                runner = ChangeoverRunner(config: config) { event in RunCommand.show(event, json: json) }
            }
            runner.stop = await Signals.stopOnTermination()
            FaultInjection.install(in: &runner)
            guard inWindow else {
                return try RunCommand.report(try await runner.run(database: database, image: image), json: json, config: runner.config)
            }
            let policy = SwitchPolicy(mode: .window, deadline: try deadline.map(Deadline.parse))
            let record = try runner.schedule(database: database, image: image, policy: policy, source: "run --in-window")
            let write: (String) -> Void = logFormat == .json
                ? { JSONLogHandler.standardError(JSONLogHandler.Line(level: .info, changeover: record.id, database: database, message: $0).encoded) }
                : json ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) } : { Output.line($0) }
            write("changeover \(record.id): \(database) \(record.fromImage) → \(record.toImage), in the maintenance window")
            await runner.notifyScheduled(record)
            try await RunCommand.waitForLead(record, runner: runner, write: write)
            try RunCommand.report(try await runner.start(id: record.id), json: json, config: runner.config)
        }
    }

    /// Waits until a scheduled changeover's provisioning is due (its lead time before the window).
    static func waitForLead(_ record: ChangeoverRecord, runner: ChangeoverRunner, write: (String) -> Void) async throws {
        let database = try runner.config.database(record.database)
        let zone = ChangeoverRunner.zone(of: database)
        var shown: (String, ContinuousClock.Instant)?
        while true {
            await runner.sendDueReminder(id: record.id)
            let now = runner.now()
            let plan = runner.startPlan(for: record, dataBytes: nil, at: now)
            if plan.isDue(at: now) { return }
            let text = plan.describe(gate: runner.gate(for: record, database: database), at: now, zone: zone)
            guard let startAt = plan.startAt else { throw Failure(.badInput, text) }
            if shown.map({ ContinuousClock.now - $0.1 >= .seconds(60) }) ?? true {
                write("  waiting: \(text)")
                shown = (text, ContinuousClock.now)
            }
            do {
                try await runner.stop.sleep(for: .milliseconds(Int64(max(10, min(startAt.timeIntervalSince(now), 1) * 1000))))
            } catch let stopped as ChangeoverStopped {
                throw Failure(.stopped, "\(stopped.reason) before the changeover started; \(record.id) stays scheduled: "
                    + "\(runner.config.command("resume", record.id)) (or the daemon) starts it")
            }
        }
    }

    /// Prints the summary and turns its outcome into the exit code.
    static func report(_ summary: ChangeoverSummary, json: Bool, config: FleetConfig) throws {
            if json { try Output.json(summary) } else { RunCommand.print(summary) }
            switch summary.outcome {
            case .completed: return
            case .stopped:
                let note = summary.stopped
                if note?.kind == .prepared { return }
                throw Failure(.stopped, "stopped in \(note?.step.rawValue ?? "?"): \(note?.reason ?? "stopped"); "
                    + "\(config.command("resume", summary.id)) continues (the old primary still serves)")
            case .aborted:
                let kind: Failure.Kind = summary.failedStep == .preflight ? .preflight : .aborted
                throw Failure(kind, "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "aborted"); "
                    + (kind == .preflight ? "nothing was touched" : "rolled back, \(summary.oldPrimary) is still the primary"))
            case .failed:
                throw Failure(.failed, "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "failed"); "
                    + (summary.rollbackUnfinished
                        ? "run \(config.command("abort", summary.id, "--yes")) once the old primary is reachable to finish the rollback"
                        : "changeover \(summary.id) needs an operator"))
            }
    }

    static func show(_ event: ChangeoverEvent, json: Bool) {
        let write: (String) -> Void = json
            ? { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
            : { Output.line($0) }
        switch event {
        case .started(let id, let database, let from, let to):
            write("changeover \(id): \(database) \(from) → \(to)")
        case .stepStarted(let step):
            write("• \(step)…")
        case .checks(let checks):
            for check in checks { write("    \(check.passed ? "ok  " : "FAIL") \(check.name): \(check.detail)") }
        case .progress(let text):
            write("    \(text)")
        case .retry(let note):
            write("    retrying \(note)")
        case .stepFinished(let step, let ms, let error):
            write(error.map { "  \(step) failed after \(Output.ms(ms)): \($0)" } ?? "  \(step) done in \(Output.ms(ms))")
        case .stopped(let step, let reason):
            write("  stopped in \(step): \(reason)")
        case .notified(let event, let failure):
            if let failure {
                FileHandle.standardError.write(Data("changeover: warning: the \(event.rawValue) notification was not delivered: \(failure)\n".utf8))
            } else {
                write("    notified: \(event.rawValue)")
            }
        }
    }

    static func print(_ summary: ChangeoverSummary) {
        Output.line()
        Output.line("changeover \(summary.id): \(summary.stopped?.kind == .prepared ? "prepared" : summary.outcome.rawValue)")
        func row(_ a: String, _ b: String, _ c: String) -> String {
            "  " + a.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 10 - b.count)) + b + "  " + c
        }
        Output.line(row("step", "duration", "outcome"))
        for timing in summary.timings {
            Output.line(row(timing.step.rawValue, Output.ms(timing.milliseconds),
                            timing.outcome + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? "")))
        }
        Output.line("  total        \(Output.ms(summary.totalMilliseconds))")
        if let position = summary.finalPosition { Output.line("  final pos.   \(position)") }
        if let pause = summary.writePauseMilliseconds { Output.line("  write pause  \(Output.ms(pause)) (fence → clients repointed)") }
        if let endpoint = summary.newPrimary {
            Output.line("  new primary  \(endpoint) (\(summary.toImage)); old primary \(summary.oldPrimary) \(summary.facts["old.retired"] == "true" ? "retired" : "kept for rollback")")
        }
        if let failure = summary.failure { Output.line("  failure      \(failure)") }
        if let stopped = summary.stopped {
            Output.line("  \(stopped.kind == .prepared ? "prepared" : "stopped ")     in \(stopped.step): \(stopped.reason)")
            Output.line("  next         `changeover \(stopped.kind == .prepared ? "switch" : "resume") \(summary.id)`")
        }
    }
}
