import Foundation

extension StateStore {
    /// Saves a campaign's progress (its `control` only when it is new).
    public func save(_ campaign: Campaign) throws {
        try storage().save(campaign)
    }

    /// Saves a campaign's progress only while `lease` is still its current lease: a daemon
    /// whose lease another took over cannot write over the new holder's progress. Throws
    /// `LeaseLost` then. Without a lease (one host, one daemon) it is `save(_:)`.
    public func save(_ campaign: Campaign, fencedBy lease: Lease?) throws {
        guard let lease else { return try save(campaign) }
        try storage().save(campaign, fencedBy: lease)
    }

    /// Writes the operator's word about campaign `id`; false when there is no such campaign.
    public func setControl(_ control: Campaign.Control, of id: String) throws -> Bool {
        guard try existingStorage() != nil else { return false }
        return try storage().setControl(control, of: id)
    }

    public func campaign(_ id: String) throws -> Campaign? {
        try existingStorage()?.campaign(id)
    }

    /// All campaigns, newest first.
    public func campaigns() throws -> [Campaign] {
        try existingStorage()?.campaigns() ?? []
    }
}
