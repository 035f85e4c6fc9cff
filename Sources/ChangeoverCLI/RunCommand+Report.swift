import ChangeoverCore

extension RunCommand {
    /// Prints the summary and turns its outcome into the exit code.
    static func report(_ summary: ChangeoverSummary, json: Bool, config: FleetConfig) throws {
        if json { try Output.json(summary) } else { Output.summary(summary) }
        switch summary.outcome {
        case .completed: return
        case .stopped:
            let note = summary.stopped
            if note?.kind == .prepared { return }
            throw Failure(
                .stopped,
                "stopped in \(note?.step.rawValue ?? "?"): \(note?.reason ?? "stopped"); "
                    + "\(config.command("resume", summary.id)) continues (the old primary still serves)")
        case .aborted:
            let kind: Failure.Kind = summary.failedStep == .preflight ? .preflight : .aborted
            throw Failure(
                kind,
                "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "aborted"); "
                    + (kind == .preflight
                        ? "nothing was touched" : "rolled back, \(summary.oldPrimary) is still the primary"))
        case .failed:
            throw Failure(
                .failed,
                "\(summary.failedStep.map { "\($0) failed: " } ?? "")\(summary.failure ?? "failed"); "
                    + (summary.rollbackUnfinished
                        ? "run \(config.command("abort", summary.id, "--yes")) once the old primary is reachable to finish the rollback"
                        : "changeover \(summary.id) needs an operator"))
        }
    }
}
