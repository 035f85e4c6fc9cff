import Foundation

/// A campaign as `campaign status` shows it: its members' changeovers read live. The daemon's
/// `GET /status` shows each without `detail` (no member list) but with its ETA while it is not
/// finished: the changeovers of the members in flight and the inventory are read for it.
public struct CampaignStatus: Encodable, Sendable {
    public struct Member: Encodable, Sendable {
        public var database: String
        public var changeover: String?
        /// to-schedule, scheduled, running (step), done, failed, skipped
        public var state: String
        public var note: String?
        public var expectedStart: Date?
    }
    public struct Wave: Encodable, Sendable {
        public var wave: String
        public var startedAt: Date?
        public var finishedAt: Date?
        public var counts: [String: Int]
        public var gates: [Campaign.GateRun]
        public var members: [Member]?
    }
    public var id: String
    public var image: String
    public var from: String?
    public var state: String
    public var halt: String?
    public var createdAt: Date
    public var finishedAt: Date?
    public var currentWave: String?
    public var done: Int
    public var total: Int
    public var failures: Int
    public var maxFailures: Int
    public var eta: Date?
    public var waves: [Wave]

    /// `detail`: the member list. `estimate` (as `detail` unless given): the ETA of a campaign
    /// not finished.
    public init(
        _ campaign: Campaign, store: StateStore, config: FleetConfig, now: Date, detail: Bool = true,
        estimate: Bool? = nil
    ) {
        let estimate = (estimate ?? detail) && !campaign.isFinished
        id = campaign.id
        image = campaign.image
        from = campaign.from
        state = campaign.effectiveState
        halt = campaign.halt?.reason
        createdAt = campaign.createdAt
        finishedAt = campaign.finishedAt
        currentWave = campaign.current < campaign.waves.count ? campaign.waves[campaign.current].wave.text : nil
        done = campaign.members.filter { $0.outcome == .done }.count
        total = campaign.members.count
        failures = campaign.failures
        maxFailures = campaign.maxFailures
        var steps: [String: ChangeoverStep] = [:]
        if detail || estimate {
            for id in campaign.members.filter(\.inFlight).compactMap(\.changeover) {
                if let record = try? store.changeover(id) { steps[id] = record.machine.step }
            }
        }
        func memberState(_ member: Campaign.Member) -> String {
            if let outcome = member.outcome { return outcome.rawValue }
            guard let id = member.changeover else { return "to-schedule" }
            guard let step = steps[id] else { return "scheduled" }
            return step == .pending ? "scheduled" : step.isTerminal ? step.rawValue : "running (\(step.rawValue))"
        }
        waves = campaign.waves.map { wave in
            let members = wave.members.map {
                Member(
                    database: $0.database, changeover: $0.changeover, state: memberState($0), note: $0.note,
                    expectedStart: $0.expectedStart)
            }
            var counts: [String: Int] = [:]
            for member in members {
                counts[member.state.hasPrefix("running") ? "running" : member.state, default: 0] += 1
            }
            return Wave(
                wave: wave.wave.text, startedAt: wave.startedAt, finishedAt: wave.finishedAt, counts: counts,
                gates: wave.gates,
                members: detail ? members : nil)
        }
        eta = estimate ? Self.eta(campaign, steps: steps, store: store, config: config, now: now) : nil
    }

    /// When what remains is expected done: the remaining members of each wave from the current
    /// one, each in its next fitting window after the previous wave (gates not counted).
    static func eta(
        _ campaign: Campaign, steps: [String: ChangeoverStep], store: StateStore, config: FleetConfig, now: Date
    ) -> Date? {
        guard let entries = try? CampaignEntry.inventory(config: config, store: store) else { return nil }
        let byName = Dictionary(entries.map { ($0.database, $0) }) { first, _ in first }
        let remaining = campaign.waves[min(campaign.current, campaign.waves.count)...].map { wave in
            wave.members.filter { $0.outcome == nil }.compactMap { member in
                byName[member.database].map {
                    (entry: $0, started: member.changeover.flatMap { steps[$0] }.map { $0 != .pending } ?? false)
                }
            }
        }
        return CampaignPlanner.expectedEnd(
            waves: remaining, now: now, margin: config.scheduling.margin, deadline: campaign.deadline)
    }
}
