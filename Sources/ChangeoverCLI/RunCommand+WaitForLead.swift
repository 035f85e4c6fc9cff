import ChangeoverCore
import Foundation

extension RunCommand {
    /// Waits until a scheduled changeover's provisioning is due (its lead time before the window).
    static func waitForLead(_ record: ChangeoverRecord, runner: ChangeoverRunner, write: (String) -> Void) async throws
    {
        do {
            try await runner.waitForLead(record, write: write)
        } catch let stopped as ChangeoverStopped {
            throw Failure(
                .stopped,
                "\(stopped.reason) before the changeover started; \(record.id) stays scheduled: "
                    + "\(runner.config.command("resume", record.id)) (or the daemon) starts it")
        }
    }
}
