import Foundation

/// One measured duration of a finished changeover, kept in the state store's history: a step,
/// the whole switchover, the base backup (with the bytes it copied) or the write pause. The
/// switchover estimate and the provisioning lead time are computed from these.
public struct DurationSample: Sendable, Codable, Hashable {
    public var changeover: String
    public var database: String
    /// `postgres` or `redis`; nil for history imported from a state directory that did not record it.
    public var engine: String?
    /// A `ChangeoverStep`'s raw value, or `switchover`, `basebackup`, `writePause`.
    public var step: String
    /// A step's outcome (`succeeded`, `failed`, `stopped`); nil for the derived measures.
    public var outcome: String?
    public var milliseconds: Double
    /// What the base backup copied.
    public var bytes: Int64?
    /// When the changeover finished.
    public var at: Date

    public init(
        changeover: String, database: String, engine: String? = nil, step: String, outcome: String? = nil,
        milliseconds: Double, bytes: Int64? = nil, at: Date
    ) {
        self.changeover = changeover
        self.database = database
        self.engine = engine
        self.step = step
        self.outcome = outcome
        self.milliseconds = milliseconds
        self.bytes = bytes
        self.at = at
    }

    /// Fence to settle of a completed changeover, its succeeded steps added up.
    public static let switchover = "switchover"
    public static let basebackup = "basebackup"
    public static let writePause = "writePause"

    /// The steps of the switchover proper, whose measured durations make the `switchover` sample.
    static let switchoverSteps: Set<ChangeoverStep> = [.fence, .finalSync, .promote, .repoint, .verify, .settle]

    /// What a finished changeover's record measured: each step's timing, the switchover of a
    /// completed one, its base backup and write pause when it recorded them; all at its last update.
    public static func samples(of record: ChangeoverRecord, engine: String? = nil) -> [DurationSample] {
        func sample(_ step: String, _ milliseconds: Double, outcome: String? = nil, bytes: Int64? = nil)
            -> DurationSample
        {
            DurationSample(
                changeover: record.id, database: record.database, engine: engine, step: step, outcome: outcome,
                milliseconds: milliseconds, bytes: bytes, at: record.updatedAt)
        }
        var samples = record.timings.map { sample($0.step.rawValue, $0.milliseconds, outcome: $0.outcome) }
        if record.machine.step == .done {
            let switchover = record.timings.filter { switchoverSteps.contains($0.step) && $0.outcome == "succeeded" }
                .reduce(0) { $0 + $1.milliseconds }
            if switchover > 0 { samples.append(sample(Self.switchover, switchover)) }
        }
        if let bytes = record.facts.basebackupBytes, let seconds = record.facts.basebackupSeconds,
            bytes > 0, seconds > 0
        {
            samples.append(sample(Self.basebackup, seconds * 1000, bytes: bytes))
        }
        if let pause = record.facts.writePauseMilliseconds {
            samples.append(sample(Self.writePause, pause))
        }
        return samples
    }
}
