import Foundation

/// How long a database's switchover is expected to take, and how early its follower must be
/// provisioned to be caught up when its window opens. Pure: the durations history (the state
/// store's, see `StateStore.estimateHistory`) and sizes are passed in.
public enum SwitchoverEstimate {
    /// An estimate with the reason, for status and the audit log.
    public struct Estimate: Sendable, Equatable {
        public var duration: Duration
        public var basis: String
    }

    /// Three times the longest of the database's last five completed switchovers (fence to
    /// settle), at least 1 s; the policy's default when it has none.
    public static func switchover(history: [DurationSample], database: String, policy: SchedulingPolicy) -> Estimate {
        let measured =
            history
            .filter { $0.database == database && $0.step == DurationSample.switchover && $0.milliseconds > 0 }
            .sorted { $0.at > $1.at }
            .prefix(5)
            .map(\.milliseconds)
        guard let longest = measured.max() else {
            return Estimate(
                duration: policy.switchoverEstimate,
                basis:
                    "default \(ScheduleText.duration(policy.switchoverEstimate)) (no completed changeover of this database yet)"
            )
        }
        let duration = max(Duration.seconds(1), .milliseconds(Int64((3 * longest).rounded(.up))))
        return Estimate(
            duration: duration,
            basis:
                "3 × the longest of the last \(measured.count) switchover\(measured.count == 1 ? "" : "s") (\(String(format: "%.1f", longest / 1000)) s)"
        )
    }

    /// The slowest base-backup throughput of the last ten changeovers that measured one (any
    /// database), bytes per second; the policy's default when none did.
    public static func throughput(history: [DurationSample], policy: SchedulingPolicy) -> (
        bytesPerSecond: Double, measured: Int
    ) {
        let rates =
            history
            .filter { $0.step == DurationSample.basebackup }
            .sorted { $0.at > $1.at }
            .compactMap { sample -> Double? in
                guard let bytes = sample.bytes, bytes > 0, sample.milliseconds > 0 else { return nil }
                return Double(bytes) / (sample.milliseconds / 1000)
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
    public static func lead(
        dataBytes: Int64?, history: [DurationSample], database: String,
        holdFor: Duration, policy: SchedulingPolicy
    ) -> Lead {
        let lastCopied =
            history
            .filter { $0.database == database && $0.step == DurationSample.basebackup }
            .sorted { $0.at > $1.at }
            .compactMap(\.bytes)
            .first
        guard let bytes = dataBytes ?? lastCopied else {
            return Lead(
                duration: max(policy.defaultLead, policy.minimumLead),
                basis: "default \(ScheduleText.duration(policy.defaultLead)) (size unknown)")
        }
        let (rate, measured) = throughput(history: history, policy: policy)
        let copySeconds = Double(bytes) / max(rate, 1)
        let estimated = Duration.milliseconds(Int64((2 * copySeconds * 1000).rounded(.up))) + holdFor
        let sizeText = "\(ScheduleText.bytes(bytes))\(dataBytes == nil ? " (last copy)" : "")"
        let rateText =
            "\(ScheduleText.bytes(Int64(rate)))/s \(measured > 0 ? "(the slowest of \(measured) measured)" : "(default)")"
        let basis =
            "\(sizeText) at \(rateText): 2 × \(ScheduleText.duration(.milliseconds(Int64(copySeconds * 1000)))) + \(ScheduleText.duration(holdFor)) hold"
        guard estimated >= policy.minimumLead else {
            return Lead(duration: policy.minimumLead, basis: "the minimum; \(basis)")
        }
        return Lead(duration: estimated, basis: basis)
    }
}
