import Foundation

/// The outcome of `run`, for printing.
public struct ChangeoverSummary: Sendable, Codable {
    public var id: String
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var outcome: ChangeoverMachine.Outcome
    public var failedStep: ChangeoverStep?
    public var failure: String?
    /// The changeover failed because its rollback could not finish: `abort` tries it again.
    public var rollbackUnfinished: Bool
    public var timings: [ChangeoverRecord.StepTiming]
    /// The old primary's last position the follower had to reach: an LSN, a replication offset.
    public var finalPosition: String?
    /// From the old primary's stop signal to the router's resume, as the controller saw it.
    public var writePauseMilliseconds: Double?
    public var newPrimary: Endpoint?
    public var oldPrimary: Endpoint
    public var totalMilliseconds: Double
    public var facts: Facts
    /// With outcome `stopped`: where and why the controller stopped.
    public var stopped: StopNote?
}
