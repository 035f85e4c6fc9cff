import Foundation

/// How long a database's switchover is expected to take, and how early its follower must be
/// provisioned to be caught up when its window opens. Pure: history and sizes are passed in.
public enum SwitchoverEstimate {
    /// The steps of the switchover proper, whose measured durations make the estimate.
    static let switchoverSteps: Set<ChangeoverStep> = [.fence, .finalSync, .promote, .repoint, .verify, .settle]

    /// An estimate with the reason, for status and the audit log.
    public struct Estimate: Sendable, Equatable {
        public var duration: Duration
        public var basis: String
    }

    /// Three times the longest of the database's last five completed switchovers (fence to
    /// settle), at least 1 s; the policy's default when it has none.
    public static func switchover(history: [ChangeoverRecord], database: String, policy: SchedulingPolicy) -> Estimate {
        let measured = history
            .filter { $0.database == database && $0.machine.step == .done }
            .sorted { $0.updatedAt > $1.updatedAt }
            .prefix(5)
            .map { record in
                record.timings.filter { switchoverSteps.contains($0.step) && $0.outcome == "succeeded" }
                    .reduce(0) { $0 + $1.milliseconds }
            }
            .filter { $0 > 0 }
        guard let longest = measured.max() else {
            return Estimate(duration: policy.switchoverEstimate,
                            basis: "default \(ScheduleText.duration(policy.switchoverEstimate)) (no completed changeover of this database yet)")
        }
        let duration = max(Duration.seconds(1), .milliseconds(Int64((3 * longest).rounded(.up))))
        return Estimate(duration: duration,
                        basis: "3 × the longest of the last \(measured.count) switchover\(measured.count == 1 ? "" : "s") (\(String(format: "%.1f", longest / 1000)) s)")
    }

    /// The slowest base-backup throughput of the last ten changeovers that measured one (any
    /// database), bytes per second; the policy's default when none did.
    public static func throughput(history: [ChangeoverRecord], policy: SchedulingPolicy) -> (bytesPerSecond: Double, measured: Int) {
        let rates = history
            .sorted { $0.updatedAt > $1.updatedAt }
            .compactMap { record -> Double? in
                guard let bytes = Double(record.facts["basebackup.bytes"] ?? ""),
                      let seconds = Double(record.facts["basebackup.seconds"] ?? ""), bytes > 0, seconds > 0
                else { return nil }
                return bytes / seconds
            }
            .prefix(10)
        guard let slowest = rates.min() else { return (Double(policy.throughput), 0) }
        return (slowest, rates.count)
    }

    public struct Lead: Sendable, Equatable {
        public var duration: Duration
        public var basis: String
    }

    /// How long before the window the follower must be started: twice the copy time at the
    /// slowest measured throughput plus the catch-up hold, at least `minimumLead`. The size is
    /// the live one when known, else what the database's last base backup copied; unknown
    /// gives `defaultLead`.
    public static func lead(dataBytes: Int64?, history: [ChangeoverRecord], database: String,
                            holdFor: Duration, policy: SchedulingPolicy) -> Lead {
        let lastCopied = history
            .filter { $0.database == database }
            .sorted { $0.updatedAt > $1.updatedAt }
            .compactMap { Int64($0.facts["basebackup.bytes"] ?? "") }
            .first
        guard let bytes = dataBytes ?? lastCopied else {
            return Lead(duration: max(policy.defaultLead, policy.minimumLead),
                        basis: "default \(ScheduleText.duration(policy.defaultLead)) (size unknown)")
        }
        let (rate, measured) = throughput(history: history, policy: policy)
        let copySeconds = Double(bytes) / max(rate, 1)
        let estimated = Duration.milliseconds(Int64((2 * copySeconds * 1000).rounded(.up))) + holdFor
        let sizeText = "\(ScheduleText.bytes(bytes))\(dataBytes == nil ? " (last copy)" : "")"
        let rateText = "\(ScheduleText.bytes(Int64(rate)))/s \(measured > 0 ? "(the slowest of \(measured) measured)" : "(default)")"
        let basis = "\(sizeText) at \(rateText): 2 × \(ScheduleText.duration(.milliseconds(Int64(copySeconds * 1000)))) + \(ScheduleText.duration(holdFor)) hold"
        guard estimated >= policy.minimumLead else {
            return Lead(duration: policy.minimumLead, basis: "the minimum; \(basis)")
        }
        return Lead(duration: estimated, basis: basis)
    }
}
