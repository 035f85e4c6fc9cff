import ArgumentParser
import ChangeoverCore
import Foundation

extension InventoryCommand {
    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add many databases to the inventory from a file of stanzas, all or none, in one transaction.",
            discussion: """
                The file is a config's databases: section on its own: `databases:`, then each database's name and \
                stanza as in the config file; moving databases from the file to the store is cutting that section out \
                into a file of its own (and taking it out of the config). Every stanza is checked as `db add` checks \
                one before anything is written, and one that fails stops the import with nothing written. Each \
                database gets its audit record. A stanza is stored as the YAML it reads as (comments are not kept).
                """)

        @OptionGroup var fleet: FleetOptions
        @Option(help: "The file of stanzas (YAML); - reads it from stdin.") var file: String
        @Flag(help: "Replace the inventory's databases of those names (not the config file's).") var replace = false

        func run() async throws {
            try await reporting {
                let config = try fleet.loadFile()
                let source = file == "-" ? "on stdin" : file
                let stanzas: [(name: String, stanza: String)]
                do {
                    stanzas = try FleetConfig.importStanzas(try text(), source: source)
                } catch let error as ConfigError {
                    throw Failure(.badInput, error.description)
                }
                // Everything is checked before anything is written.
                var databases: [(name: String, stanza: String, database: DatabaseConfig)] = []
                databases.reserveCapacity(stanzas.count)
                for (name, stanza) in stanzas {
                    if config.databases[name] != nil {
                        throw Failure(
                            .badInput,
                            "database \(name) is in config \(fleet.config); the inventory keeps databases the file "
                                + "does not have (nothing imported)")
                    }
                    do {
                        databases.append((name, stanza, try config.resolveInventory(name: name, stanza: stanza)))
                    } catch {
                        throw Failure(.badInput, "\(error) (nothing imported)")
                    }
                }
                let store = StateStore(config: config)
                let existing = Set(try store.inventory().map(\.name))
                let replaced = databases.map(\.name).filter(existing.contains)
                if !replaced.isEmpty && !replace {
                    throw Failure(
                        .badInput,
                        "\(replaced.count) of the file's databases are already in the inventory ("
                            + replaced.prefix(5).joined(separator: ", ") + (replaced.count > 5 ? ", …" : "")
                            + "); --replace replaces them (nothing imported)")
                }
                let actor = ChangeoverRunner.defaultActor()
                var locks: [DatabaseLock] = []
                for name in replaced {
                    locks.append(try store.lock(database: name, changeover: "db import", actor: actor))
                }
                defer { withExtendedLifetime(locks) {} }
                if !replaced.isEmpty {
                    let replacing = Set(replaced)
                    if let active = try store.changeovers().first(where: {
                        replacing.contains($0.database) && $0.machine.canContinue
                    }) {
                        throw Failure(
                            .badInput,
                            "cannot replace database \(active.database): changeover \(active.id) (\(active.machine.step)) "
                                + "has not ended; let it finish, or abort it first (nothing imported)")
                    }
                }
                // Audited before the write they authorise, as `db add` is: one sync for all.
                let now = Date()
                let entries = databases.map { name, _, database in
                    var facts = [
                        "engine": database.engine.rawValue, "image": database.image, "source": "store",
                        "import": source,
                    ]
                    if let tier = database.labels["tier"] { facts["tier"] = tier }
                    let (outcome, done) = existing.contains(name) ? ("replaced", "replaced in") : ("added", "added to")
                    return AuditEntry(
                        changeover: "", database: name, step: "inventory", outcome: outcome,
                        message: "\(done) the inventory: \(database.engine.rawValue) on \(database.image) (imported)",
                        facts: facts)
                }
                try Journal(auditLog: config.auditLog, actor: actor).record(entries, at: now) {
                    try store.saveInventory(
                        databases.map { InventoryEntry(name: $0.name, stanza: $0.stanza, addedAt: now, addedBy: actor) }
                    )
                }
                Output.line(
                    "\(databases.count) database(s) imported into the inventory: \(databases.count - replaced.count) added, "
                        + "\(replaced.count) replaced")
            }
        }

        /// The file's (or stdin's) text, at most the config file's size.
        func text() throws -> String {
            guard file == "-" else {
                do {
                    return try FleetConfig.readText(file)
                } catch {
                    throw Failure(
                        .badInput, error.description.replacingOccurrences(of: "config file", with: "import file"))
                }
            }
            let limit = FleetConfig.maximumFileSize
            let data = (try? FileHandle.standardInput.read(upToCount: limit + 1)) ?? Data()
            guard data.count <= limit else {
                throw Failure(.badInput, "the file on stdin is larger than \(limit >> 20) MiB")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw Failure(.badInput, "the file on stdin is not UTF-8 text")
            }
            return text
        }
    }
}
