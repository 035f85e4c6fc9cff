import Foundation

/// The inventory: databases kept in the store rather than in the config file (`InventoryEntry`).
/// Writes create the store on first use, as every write does; reads of a state directory that
/// holds no state yet find nothing and create nothing.
extension StateStore {
    /// Saves (adds or replaces) a database of the inventory; durable when it returns.
    public func saveInventory(_ entry: InventoryEntry) throws {
        try storage().saveInventory([entry])
    }

    /// Saves (adds or replaces) databases of the inventory, all or none, in one transaction:
    /// importing a fleet of thousands takes one sync, not one each.
    public func saveInventory(_ entries: [InventoryEntry]) throws {
        guard !entries.isEmpty else { return }
        try storage().saveInventory(entries)
    }

    /// Removes `name` from the inventory; whether it was there.
    @discardableResult
    public func removeInventory(_ name: String) throws -> Bool {
        try existingStorage()?.removeInventory(name) ?? false
    }

    /// Every database of the inventory, sorted by name.
    public func inventory() throws -> [InventoryEntry] {
        try existingStorage()?.inventory() ?? []
    }

    public func inventoryEntry(_ name: String) throws -> InventoryEntry? {
        try existingStorage()?.inventoryEntry(name)
    }
}
