import Foundation

/// What the controller knows about one changeover, written before each step acts.
public struct ChangeoverRecord: Sendable, Codable, Equatable {
    public var id: String
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var machine: ChangeoverMachine
    public var startedAt: Date
    public var updatedAt: Date
    /// Figures and names the steps learned: slot, follower port and data directory, LSNs.
    public var facts: ChangeoverFacts
    public var timings: [StepTiming]
    /// When the switchover may happen: now, in a window, or held for `switch`. Absent in records
    /// written before scheduling existed: those switched at once.
    public var policy: SwitchPolicy?
    /// Set while the changeover is stopped before its switchover (a signal, or `prepare` done);
    /// cleared when a controller continues it.
    public var stopped: StopNote?

    public struct StepTiming: Sendable, Codable, Equatable {
        public var step: ChangeoverStep
        public var milliseconds: Double
        public var outcome: String
        /// Remote calls tried again during the step.
        public var retries: Int?

        public init(step: ChangeoverStep, milliseconds: Double, outcome: String, retries: Int? = nil) {
            self.step = step
            self.milliseconds = milliseconds
            self.outcome = outcome
            self.retries = retries
        }
    }
}
