import Foundation
import GRDB

/// The inventory in the SQLite store: the table `inventory`, one row per database, made by its own
/// migration (`registerInventoryMigration`), which is independent of the other tables and may run
/// before or after migrations registered beside it.
///
/// Every write is one `BEGIN IMMEDIATE` transaction under `synchronous = FULL` (the connection's
/// setting): synced before it returns.
extension SQLiteStateStorage {
    static func registerInventoryMigration(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3 inventory") { db in
            // A database kept in the store: its YAML stanza as text, resolved by each config load.
            try db.execute(
                sql: """
                    CREATE TABLE inventory (
                        name TEXT PRIMARY KEY NOT NULL,
                        stanza TEXT NOT NULL,
                        addedAt REAL NOT NULL,
                        addedBy TEXT NOT NULL) WITHOUT ROWID;
                    """)
        }
    }

    public func saveInventory(_ entries: [InventoryEntry]) throws {
        try writeInventory { db in
            let statement = try db.makeStatement(
                sql: """
                    INSERT INTO inventory (name, stanza, addedAt, addedBy) VALUES (?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET stanza = excluded.stanza, addedAt = excluded.addedAt, addedBy = excluded.addedBy
                    """)
            for entry in entries {
                try statement.execute(arguments: [
                    entry.name, entry.stanza, entry.addedAt.timeIntervalSince1970, entry.addedBy,
                ])
            }
        }
    }

    public func removeInventory(_ name: String) throws -> Bool {
        var removed = false
        try writeInventory { db in
            try db.execute(sql: "DELETE FROM inventory WHERE name = ?", arguments: [name])
            removed = db.changesCount > 0
        }
        return removed
    }

    public func inventory() throws -> [InventoryEntry] {
        try readInventory { db in
            try Row.fetchAll(db, sql: "SELECT * FROM inventory ORDER BY name").map(Self.inventoryEntry)
        }
    }

    public func inventoryEntry(_ name: String) throws -> InventoryEntry? {
        try readInventory { db in
            try Row.fetchOne(db, sql: "SELECT * FROM inventory WHERE name = ?", arguments: [name]).map(
                Self.inventoryEntry)
        }
    }

    private static func inventoryEntry(_ row: Row) -> InventoryEntry {
        InventoryEntry(
            name: row["name"], stanza: row["stanza"], addedAt: Date(timeIntervalSince1970: row["addedAt"]),
            addedBy: row["addedBy"])
    }

    /// One durable `BEGIN IMMEDIATE` transaction, errors as the store's.
    private func writeInventory(_ body: (Database) throws -> Void) throws {
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try body(db)
                    return .commit
                }
            }
        } catch {
            throw Self.storeError(error, path)
        }
    }

    private func readInventory<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch {
            throw Self.storeError(error, path)
        }
    }
}
