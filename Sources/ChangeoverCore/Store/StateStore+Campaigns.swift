import Foundation

extension StateStore {
    /// Saves a campaign's progress (its `control` only when it is new).
    public func save(_ campaign: Campaign) throws {
        try storage().save(campaign)
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
