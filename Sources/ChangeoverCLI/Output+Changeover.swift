import ChangeoverCore
import Foundation

extension Output {
    /// A changeover's progress as it happens: on stdout, or on stderr with `json` (the summary
    /// then goes to stdout as JSON).
    package static func progress(_ event: ChangeoverEvent, json: Bool) {
        let write: (String) -> Void =
            json
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
            write(
                error.map { "  \(step) failed after \(Output.ms(ms)): \($0)" } ?? "  \(step) done in \(Output.ms(ms))")
        case .stopped(let step, let reason):
            write("  stopped in \(step): \(reason)")
        case .notified(let event, let failure):
            if let failure {
                FileHandle.standardError.write(
                    Data("changeover: warning: the \(event.rawValue) notification was not delivered: \(failure)\n".utf8)
                )
            } else {
                write("    notified: \(event.rawValue)")
            }
        }
    }

    /// A changeover's outcome: each step's duration, the write pause, where the primary is now.
    package static func summary(_ summary: ChangeoverSummary) {
        Output.line()
        Output.line(
            "changeover \(summary.id): \(summary.stopped?.kind == .prepared ? "prepared" : summary.outcome.rawValue)")
        func row(_ a: String, _ b: String, _ c: String) -> String {
            "  " + a.padding(toLength: 12, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 10 - b.count)) + b + "  " + c
        }
        Output.line(row("step", "duration", "outcome"))
        for timing in summary.timings {
            Output.line(
                row(
                    timing.step.rawValue, Output.ms(timing.milliseconds),
                    timing.outcome + (timing.retries.map { " after \($0) retr\($0 == 1 ? "y" : "ies")" } ?? "")))
        }
        Output.line("  total        \(Output.ms(summary.totalMilliseconds))")
        if let position = summary.finalPosition { Output.line("  final pos.   \(position)") }
        if let pause = summary.writePauseMilliseconds {
            Output.line("  write pause  \(Output.ms(pause)) (fence → clients repointed)")
        }
        if let endpoint = summary.newPrimary {
            Output.line(
                "  new primary  \(endpoint) (\(summary.toImage)); old primary \(summary.oldPrimary) \(summary.facts["old.retired"] == "true" ? "retired" : "kept for rollback")"
            )
        }
        if let failure = summary.failure { Output.line("  failure      \(failure)") }
        if let stopped = summary.stopped {
            Output.line(
                "  \(stopped.kind == .prepared ? "prepared" : "stopped ")     in \(stopped.step): \(stopped.reason)")
            Output.line("  next         `changeover \(stopped.kind == .prepared ? "switch" : "resume") \(summary.id)`")
        }
    }
}
