import ChangeoverCore
import Foundation

extension RunCommand {
    /// Waits until a scheduled changeover's provisioning is due (its lead time before the window).
    static func waitForLead(_ record: ChangeoverRecord, runner: ChangeoverRunner, write: (String) -> Void) async throws
    {
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
                try await runner.stop.sleep(
                    for: .milliseconds(Int64(max(10, min(startAt.timeIntervalSince(now), 1) * 1000))))
            } catch let stopped as ChangeoverStopped {
                throw Failure(
                    .stopped,
                    "\(stopped.reason) before the changeover started; \(record.id) stays scheduled: "
                        + "\(runner.config.command("resume", record.id)) (or the daemon) starts it")
            }
        }
    }
}
