import ChangeoverCore
import Foundation

/// A campaign plan as JSON.
struct CampaignPlanText: Encodable {
    struct Member: Encodable {
        var database: String
        var tier: String?
        var host: String
        var windowStart: Date?
        var windowEnd: Date?
        var forcedAt: Date?
        var neededSeconds: Double
    }
    struct Wave: Encodable {
        var wave: String
        var notBefore: Date
        var expectedEnd: Date?
        var members: [Member]
    }
    struct Skipped: Encodable {
        var database: String
        var reason: String
    }
    var waves: [Wave]
    var skipped: [Skipped]

    init(_ plan: CampaignPlan) {
        waves = plan.waves.map { wave in
            Wave(
                wave: wave.wave.text, notBefore: wave.notBefore, expectedEnd: wave.expectedEnd,
                members: wave.members.map {
                    Member(
                        database: $0.database, tier: $0.tier, host: $0.host, windowStart: $0.opening?.start,
                        windowEnd: $0.opening?.end, forcedAt: $0.forcedAt, neededSeconds: $0.needed.seconds)
                })
        }
        skipped = plan.skipped.map { Skipped(database: $0.database, reason: $0.reason) }
    }
}

extension CampaignPlanText {
    /// The plan as lines, one wave and then its members.
    static func print(_ plan: CampaignPlan) {
        for wave in plan.waves {
            let end =
                wave.expectedEnd.map { "expected done \(ScheduleText.iso($0))" } ?? "a member has no fitting window"
            Output.line(
                "wave \(wave.wave.text): \(wave.members.count) database(s), from \(ScheduleText.iso(wave.notBefore)), \(end)"
            )
            for member in wave.members {
                let when =
                    member.opening.map { "window \(ScheduleText.iso($0.start)) → \(ScheduleText.iso($0.end))" }
                    ?? member.forcedAt.map { "no window fits: forced at the deadline \(ScheduleText.iso($0))" }
                    ?? "no window fits within a year"
                Output.line("  \(member.database) (\(member.tier ?? "-"), \(member.host)): \(when)")
            }
        }
        for skipped in plan.skipped { Output.line("left out: \(skipped.database): \(skipped.reason)") }
    }
}
