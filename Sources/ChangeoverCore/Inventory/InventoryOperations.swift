import Foundation

/// What an operator does to the state store's inventory (`db add`, `db import`, `db remove`):
/// each stanza checked as the config's own databases are, each change made under the
/// database's lock, refused while the database has a changeover that has not ended, and
/// audited before the store write it authorises.
public struct InventoryOperations: Sendable {
    /// The config file alone, without the inventory: a name in both is an error.
    public let config: FleetConfig
    /// The config file as the operator named it, for the messages that send them there.
    public let configFile: String
    public let store: StateStore
    public let journal: Journal

    public init(config: FleetConfig, configFile: String, actor: String = ChangeoverRunner.defaultActor()) {
        self.config = config
        self.configFile = configFile
        self.store = StateStore(config: config)
        self.journal = Journal(auditLog: config.auditLog, actor: actor)
    }

    /// What `add` and `import` did to a database of the inventory.
    public enum Change: String, Sendable {
        case added, replaced

        /// "added to" / "replaced in" the inventory.
        public var done: String { self == .added ? "added to" : "replaced in" }
    }

    /// Adds (or with `replace`, replaces) one database from its stanza; returns it resolved and
    /// what was done. A stanza that does not resolve throws the config's `ConfigError`.
    public func add(name: String, stanza: String, replace: Bool) throws -> (database: DatabaseConfig, change: Change) {
        if config.databases[name] != nil {
            throw ChangeoverRefused(
                description: "database \(name) is in config \(configFile); the inventory keeps databases the file "
                    + "does not have (edit the file, or remove it there first)")
        }
        let database = try config.resolveInventory(name: name, stanza: stanza)
        let existing = try store.inventoryEntry(name)
        if let existing, !replace {
            throw ChangeoverRefused(
                description: "database \(name) is already in the inventory (added by \(existing.addedBy) at "
                    + "\(ScheduleText.iso(existing.addedAt))); --replace replaces it")
        }
        let lock = try store.lock(database: name, changeover: "db add", actor: journal.actor)
        defer { withExtendedLifetime(lock) {} }
        if existing != nil { try refuseWhileChangingOver(name, doing: "replace") }
        let change: Change = existing == nil ? .added : .replaced
        // Audited before the write it authorises, as a changeover's steps are.
        try journal.record(
            AuditEntry(
                changeover: "", database: name, step: "inventory", outcome: change.rawValue,
                message: "\(change.done) the inventory: \(database.engine.rawValue) on \(database.image)",
                facts: Self.facts(of: database))
        ) {
            try store.saveInventory(InventoryEntry(name: name, stanza: stanza, addedAt: Date(), addedBy: journal.actor))
        }
        return (database, change)
    }

    /// Adds (or with `replace`, replaces) every database of a file of stanzas, all or none: each
    /// is checked before anything is written, then one audit append for all, then one store
    /// transaction. `source` names the file in the audit records. Returns how many were
    /// replaced. A stanza that does not resolve throws the config's `ConfigError`.
    public func `import`(_ stanzas: [(name: String, stanza: String)], source: String, replace: Bool) throws -> Int {
        var databases: [(name: String, stanza: String, database: DatabaseConfig)] = []
        databases.reserveCapacity(stanzas.count)
        for (name, stanza) in stanzas {
            if config.databases[name] != nil {
                throw ChangeoverRefused(
                    description: "database \(name) is in config \(configFile); the inventory keeps databases the file "
                        + "does not have (nothing imported)")
            }
            databases.append((name, stanza, try config.resolveInventory(name: name, stanza: stanza)))
        }
        let existing = Set(try store.inventory().map(\.name))
        let replaced = databases.map(\.name).filter(existing.contains)
        if !replaced.isEmpty && !replace {
            throw ChangeoverRefused(
                description: "\(replaced.count) of the file's databases are already in the inventory ("
                    + replaced.prefix(5).joined(separator: ", ") + (replaced.count > 5 ? ", …" : "")
                    + "); --replace replaces them (nothing imported)")
        }
        var locks: [DatabaseLock] = []
        for name in replaced {
            locks.append(try store.lock(database: name, changeover: "db import", actor: journal.actor))
        }
        defer { withExtendedLifetime(locks) {} }
        if !replaced.isEmpty {
            let replacing = Set(replaced)
            if let active = try store.changeovers().first(where: {
                replacing.contains($0.database) && $0.machine.canContinue
            }) {
                throw ChangeoverRefused(
                    description: "cannot replace database \(active.database): changeover \(active.id) "
                        + "(\(active.machine.step)) has not ended; let it finish, or abort it first (nothing imported)")
            }
        }
        // Audited before the write they authorise, as `add` is: one sync for all.
        let now = Date()
        let entries = databases.map { name, _, database in
            let change: Change = existing.contains(name) ? .replaced : .added
            return AuditEntry(
                changeover: "", database: name, step: "inventory", outcome: change.rawValue,
                message: "\(change.done) the inventory: \(database.engine.rawValue) on \(database.image) (imported)",
                facts: Self.facts(of: database).merging(["import": source]) { a, _ in a })
        }
        try journal.record(entries, at: now) {
            try store.saveInventory(
                databases.map { InventoryEntry(name: $0.name, stanza: $0.stanza, addedAt: now, addedBy: journal.actor) }
            )
        }
        return replaced.count
    }

    /// Removes one database from the inventory.
    public func remove(name: String) throws {
        guard try store.inventoryEntry(name) != nil else {
            if config.databases[name] != nil {
                throw ChangeoverRefused(
                    description:
                        "database \(name) is in config \(configFile), not in the inventory: edit the config file")
            }
            throw ChangeoverRefused(description: "no database \(name) in the inventory")
        }
        let lock = try store.lock(database: name, changeover: "db remove", actor: journal.actor)
        defer { withExtendedLifetime(lock) {} }
        try refuseWhileChangingOver(name, doing: "remove")
        try journal.record(
            AuditEntry(
                changeover: "", database: name, step: "inventory", outcome: "removed",
                message: "removed from the inventory", facts: ["source": "store"])
        ) { try store.removeInventory(name) }
    }

    /// Refuses while `name` has a changeover that has not ended (scheduled, running, stopped
    /// resumable, or a rollback left unfinished): its stanza is what that changeover acts on.
    func refuseWhileChangingOver(_ name: String, doing verb: String) throws {
        if let active = try store.changeovers(database: name).first(where: \.machine.canContinue) {
            throw ChangeoverRefused(
                description: "cannot \(verb) database \(name): changeover \(active.id) (\(active.machine.step)) "
                    + "has not ended; let it finish, or abort it first (changeover abort \(active.id) --yes)")
        }
    }

    /// The audit facts of a database the inventory keeps.
    static func facts(of database: DatabaseConfig) -> [String: String] {
        var facts = ["engine": database.engine.rawValue, "image": database.image, "source": "store"]
        if let tier = database.labels["tier"] { facts["tier"] = tier }
        return facts
    }
}
