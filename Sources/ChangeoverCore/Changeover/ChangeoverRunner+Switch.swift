import Foundation

/// `switch`: a prepared (or scheduled, or stopped) changeover cut over now or in its window.
extension ChangeoverRunner {
    /// Cuts a changeover over that has not begun its switchover: at once (`now`), or in the
    /// database's window, switching anyway at `deadline` (else the deadline it was given) if no
    /// window with room opens before. The follower's catch-up is checked again first.
    public func switchOver(id: String, now: Bool, deadline: Date?) async throws -> ChangeoverSummary {
        guard let record = try store.changeover(id) else { throw ChangeoverRefused(description: "no changeover \(id)") }
        guard record.machine.canContinue, !record.machine.step.isTerminal else {
            throw ChangeoverRefused(description: "changeover \(id) already ended (\(record.machine.step))")
        }
        guard !record.machine.step.isSwitchingOver else {
            throw ChangeoverRefused(
                description: "changeover \(id) is already switching over (\(record.machine.step)); "
                    + "\(config.command("resume", id)) finishes it")
        }
        let policy =
            now ? SwitchPolicy.now : SwitchPolicy(mode: .window, deadline: deadline ?? record.policy?.deadline)
        return try await resume(id: id, policy: policy)
    }
}
