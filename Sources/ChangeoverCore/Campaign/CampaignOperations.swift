import Foundation

/// What an operator does to a campaign, each audited before the store write it authorises (a
/// daemon polling the store may act on a campaign the moment it is saved: its records must
/// follow the campaign's own).
public struct CampaignOperations: Sendable {
    public let store: StateStore
    public let journal: Journal

    public init(store: StateStore, journal: Journal) {
        self.store = store
        self.journal = journal
    }

    /// Records a new campaign: its `started` record, then the campaign the daemon moves on.
    public func start(_ campaign: Campaign, waves: String) throws {
        let members = campaign.members.count
        let entry = AuditEntry(
            changeover: campaign.id, database: "", step: "campaign", outcome: "started",
            message:
                "to \(campaign.image): \(members) database(s) in waves \(campaign.waves.map(\.wave.text).joined(separator: ","))",
            facts: [
                "image": campaign.image, "waves": waves, "members": String(members), "gate": campaign.gate ?? "",
                "max-failures": String(campaign.maxFailures),
            ])
        try journal.record(entry) { try store.save(campaign) }
    }

    /// Writes the operator's word (`run` resumes, `pause`, `abort`) for the campaign's driver;
    /// returns the campaign as it was. Refused for a campaign that finished or is not there.
    public func control(_ command: Campaign.Control.Command, of id: String, at now: Date = Date()) throws -> Campaign {
        guard let campaign = try store.campaign(id) else {
            throw ChangeoverRefused(description: "no campaign \(id) in the state store")
        }
        guard !campaign.isFinished else {
            throw ChangeoverRefused(
                description: "campaign \(id) already \(campaign.state.rawValue); there is nothing to "
                    + (command == .run ? "resume" : command.rawValue))
        }
        let entry = AuditEntry(
            changeover: id, database: "", step: "campaign",
            outcome: command == .run ? "resume-requested" : "\(command.rawValue)-requested",
            message: "by \(journal.actor), while \(campaign.effectiveState)", facts: ["image": campaign.image])
        try journal.record(entry, at: now) {
            _ = try store.setControl(Campaign.Control(command: command, at: now, by: journal.actor), of: id)
        }
        return campaign
    }

    /// Ends a campaign (`abort`), then looks at it at once with `driver`, so that its
    /// changeovers not started are cancelled now when no daemon is moving it on this instant
    /// (else the daemon does). Returns the campaign as it is then and its changeovers under way,
    /// left to finish or roll back; nil if it is gone.
    public func abort(_ id: String, driver: CampaignDriver) async throws -> (campaign: Campaign, underWay: [String])? {
        _ = try control(.abort, of: id)
        try await driver.look(at: id)
        guard let campaign = try store.campaign(id) else { return nil }
        let underWay = campaign.members.filter(\.inFlight).compactMap(\.changeover)
            .filter { (try? store.changeover($0))?.machine.step != .pending }
        return (campaign, underWay)
    }
}
