import Foundation

/// A changeover waiting to happen to a database, as `status pending` lists them (the way a
/// cloud lists pending maintenance): what changes, where it stands, the window its switchover
/// targets, when provisioning starts, and the deadline that forces it.
public struct PendingMaintenance: Encodable, Sendable, Equatable {
    public var database: String
    public var changeover: String
    /// As `status` says it: scheduled, running, prepared, stopped, interrupted, rollback unfinished.
    public var state: ChangeoverStatus.State
    public var step: String
    public var fromImage: String
    public var toImage: String
    /// When it may switch: `window` (the next one with room), `now` (once caught up), `hold` (`switch` decides).
    public var switchMode: String
    /// The window the switchover targets (nil: none fits, or it does not wait for one).
    public var windowStart: Date?
    public var windowEnd: Date?
    /// When the follower is provisioned (scheduled changeovers only).
    public var provisionAt: Date?
    /// The switch happens by then, in a window or forced.
    public var deadline: Date?
    public var waitingFor: String?

    /// One entry per changeover not ended in `statuses`, ordered by database and then by its
    /// switch (the earliest first). `runner` gives the fit rule and the start plan.
    public static func list(_ statuses: [ChangeoverStatus], runner: ChangeoverRunner, now: Date) -> [PendingMaintenance]
    {
        statuses.filter { !$0.record.machine.step.isTerminal }.map { status in
            let record = status.record
            let mode = record.policy?.mode ?? .now
            var entry = PendingMaintenance(
                database: record.database, changeover: record.id, state: status.state,
                step: record.machine.step.rawValue,
                fromImage: record.fromImage, toImage: record.toImage, switchMode: mode.rawValue,
                deadline: record.policy?.deadline, waitingFor: status.waitingFor)
            guard mode == .window, let database = try? runner.config.database(record.database) else { return entry }
            switch runner.gate(for: record, database: database).decide(at: now) {
            case .open(let opening), .wait(_, .some(let opening), _):
                entry.windowStart = opening.start
                entry.windowEnd = opening.end
            case .wait, .forced, .never:
                break
            }
            if status.state == .scheduled {
                entry.provisionAt = runner.startPlan(for: record, dataBytes: nil, at: now).startAt
            }
            return entry
        }
        .sorted {
            ($0.database, $0.windowStart ?? .distantFuture, $0.changeover) < (
                $1.database, $1.windowStart ?? .distantFuture, $1.changeover
            )
        }
    }
}
