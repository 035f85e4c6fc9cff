import Foundation

/// `run --in-window`: a scheduled changeover driven in this process once its lead time has come.
extension ChangeoverRunner {
    /// Waits until a scheduled changeover's provisioning is due (its lead time before the
    /// window), sending its reminders as they fall due and writing what it waits for through
    /// `write` (again when a minute has passed). Throws `ChangeoverRefused` when no window will
    /// ever fit, and `ChangeoverStopped` when asked to stop meanwhile.
    public func waitForLead(_ record: ChangeoverRecord, write: (String) -> Void) async throws {
        let database = try config.database(record.database)
        let zone = Self.zone(of: database)
        var shown: ContinuousClock.Instant?
        while true {
            await sendDueReminder(id: record.id)
            let now = self.now()
            let plan = startPlan(for: record, dataBytes: nil, at: now)
            if plan.isDue(at: now) { return }
            let text = plan.describe(gate: gate(for: record, database: database), at: now, zone: zone)
            guard let startAt = plan.startAt else { throw ChangeoverRefused(description: text) }
            if shown.map({ ContinuousClock.now - $0 >= .seconds(60) }) ?? true {
                write("  waiting: \(text)")
                shown = ContinuousClock.now
            }
            try await stop.sleep(for: .milliseconds(Int64(max(10, min(startAt.timeIntervalSince(now), 1) * 1000))))
        }
    }
}
