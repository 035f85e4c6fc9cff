import Foundation

/// The inventory in the Postgres store: `changeover.inventory`, one row per database, created
/// idempotently with the rest of the schema (its own step, after the other tables'). Every
/// controller sharing the store sees the same inventory.
///
/// Each write is one statement, committed (the server's WAL flushed, per its
/// `synchronous_commit`) before it returns.
extension PostgresStateStorage {
    static let inventorySchemaStatements = [
        // A database kept in the store: its YAML stanza as text, resolved by each config load.
        """
        CREATE TABLE IF NOT EXISTS \(schema).inventory (
            name text PRIMARY KEY, stanza text NOT NULL, added_at double precision NOT NULL, added_by text NOT NULL)
        """
    ]

    public func saveInventory(_ entries: [InventoryEntry]) throws {
        try blocking { session in
            _ = try session.query("BEGIN")
            for entry in entries {
                _ = try session.query(
                    """
                    INSERT INTO \(Self.schema).inventory (name, stanza, added_at, added_by) VALUES ($1, $2, $3::float8, $4)
                    ON CONFLICT (name) DO UPDATE SET stanza = excluded.stanza, added_at = excluded.added_at, added_by = excluded.added_by
                    """, [entry.name, entry.stanza, String(entry.addedAt.timeIntervalSince1970), entry.addedBy])
            }
            _ = try session.query("COMMIT")
        }
    }

    public func removeInventory(_ name: String) throws -> Bool {
        let result = try blocking { session in
            try session.query("DELETE FROM \(Self.schema).inventory WHERE name = $1", [name])
        }
        return (result.affectedRows ?? 0) > 0
    }

    public func inventory() throws -> [InventoryEntry] {
        let result = try blocking { session in
            try session.query(
                "SELECT name, stanza, added_at, added_by FROM \(Self.schema).inventory ORDER BY name COLLATE \"C\"")
        }
        return result.rows.map(Self.inventoryEntry)
    }

    public func inventoryEntry(_ name: String) throws -> InventoryEntry? {
        let result = try blocking { session in
            try session.query(
                "SELECT name, stanza, added_at, added_by FROM \(Self.schema).inventory WHERE name = $1", [name])
        }
        return result.rows.first.map(Self.inventoryEntry)
    }

    private static func inventoryEntry(_ row: [String?]) -> InventoryEntry {
        InventoryEntry(
            name: row[0] ?? "", stanza: row[1] ?? "", addedAt: Date(timeIntervalSince1970: Double(row[2] ?? "") ?? 0),
            addedBy: row[3] ?? "")
    }
}
