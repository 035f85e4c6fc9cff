import ArgumentParser
import ChangeoverCore
import Foundation

struct InventoryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db",
        abstract: "Keep databases in the state store's inventory: add, remove, list.",
        discussion: """
            A database of the inventory is its YAML stanza, exactly what would sit under `databases: NAME:` in \
            the config file, kept in the state store (shared by every host when the store is Postgres). Every \
            command that reads the config adds them to the file's databases, resolved by the same rules. A name \
            in both the file and the store is an error; a stored database that no longer resolves (its image \
            was removed from the file…) is left out with a warning, and `db list` shows why.
            """,
        subcommands: [Add.self, Import.self, Remove.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a database to the inventory, from a stanza (--file) or from flags; checked as the config's own first.",
            discussion: """
                The stanza is YAML: engine, image, primary, password: {env: NAME}, labels: {tier: …}, windows, and \
                any other key of a config database. Secrets come from the environment only. With flags instead of a \
                file: --image and --primary at least, e.g. `db add billing --engine postgres --image pg15 \
                --primary "host=db7 port=5432 user=postgres" --password-env BILLING_PW --tier production \
                --window "Sundays 02:00 UTC for 2h"`.
                """)

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The database's name.") var name: String
        @Option(help: "A file holding the stanza (YAML); - reads it from stdin.") var file: String?
        @Option(help: "postgres (the default) or redis.") var engine: String?
        @Option(help: "The image it runs now (a name from the config's images).") var image: String?
        @Option(help: "The primary: a libpq conninfo (postgres) or host:port (redis), without a password.") var primary: String?
        @Option(name: .customLong("password-env"), help: "The environment variable holding its password.") var passwordEnv: String?
        @Option(help: "Its tier label (campaigns order their waves by it).") var tier: String?
        @Option(name: .customLong("window"), help: "A maintenance window, e.g. \"Sundays 02:00 UTC for 2h\" (repeatable).")
        var windows: [String] = []
        @Option(name: .customLong("label"), help: "A label KEY=VALUE (repeatable).") var labels: [String] = []
        @Flag(help: "Replace the inventory's database of that name (not one of the config file's).") var replace = false

        func validate() throws {
            try InventoryCommand.validateName(name)
            let flags = engine != nil || image != nil || primary != nil || passwordEnv != nil || tier != nil
                || !windows.isEmpty || !labels.isEmpty
            if file != nil {
                guard !flags else {
                    throw ValidationError("--file does not go with --engine, --image, --primary, --password-env, --tier, --window, --label")
                }
                return
            }
            guard image != nil, primary != nil else {
                throw ValidationError("give the stanza with --file PATH (- for stdin), or at least --image and --primary")
            }
            if let engine, DatabaseConfig.EngineKind(rawValue: engine) == nil {
                throw ValidationError("--engine must be postgres or redis, not \"\(engine)\"")
            }
            for label in labels {
                guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                    throw ValidationError("--label takes KEY=VALUE, not \"\(label)\"")
                }
                if tier != nil, label[..<equals] == "tier" { throw ValidationError("give the tier once: --tier or --label tier=…") }
            }
        }

        func run() async throws {
            try await reporting {
                let config = try fleet.loadFile()
                let stanza = try self.stanza()
                if config.databases[name] != nil {
                    throw Failure(.badInput, "database \(name) is in config \(fleet.config); the inventory keeps databases the file "
                        + "does not have (edit the file, or remove it there first)")
                }
                let database: DatabaseConfig
                do {
                    database = try config.resolveInventory(name: name, stanza: stanza)
                } catch {
                    throw Failure(.badInput, String(describing: error))
                }
                let store = StateStore(config: config)
                let actor = ChangeoverRunner.defaultActor()
                let existing = try store.inventoryEntry(name)
                if let existing, !replace {
                    throw Failure(.badInput, "database \(name) is already in the inventory (added by \(existing.addedBy) at "
                        + "\(ScheduleText.iso(existing.addedAt))); --replace replaces it")
                }
                let lock = try store.lock(database: name, changeover: "db add", actor: actor)
                defer { withExtendedLifetime(lock) {} }
                if existing != nil { try InventoryCommand.refuseWhileChangingOver(name, store: store, doing: "replace") }
                let outcome = existing == nil ? "added" : "replaced"
                let done = existing == nil ? "added to" : "replaced in"
                var facts = ["engine": database.engine.rawValue, "image": database.image, "source": "store"]
                if let tier = database.labels["tier"] { facts["tier"] = tier }
                // Audited before the write it authorises, as a changeover's steps are.
                try Journal(auditLog: config.auditLog, actor: actor).record(
                    AuditEntry(changeover: "", database: name, step: "inventory", outcome: outcome,
                               message: "\(done) the inventory: \(database.engine.rawValue) on \(database.image)", facts: facts)
                ) { try store.saveInventory(InventoryEntry(name: name, stanza: stanza, addedAt: Date(), addedBy: actor)) }
                Output.line("database \(name) \(done) the inventory: \(database.engine.rawValue) on \(database.image)"
                    + (database.labels["tier"].map { ", tier \($0)" } ?? ""))
            }
        }

        /// The stanza: the file's (or stdin's) text as given, or the one the flags stand for.
        func stanza() throws -> String {
            guard let file else {
                var pairs: [(String, String)] = tier.map { [("tier", $0)] } ?? []
                for label in labels {
                    let equals = label.firstIndex(of: "=")!
                    pairs.append((String(label[..<equals]), String(label[label.index(after: equals)...])))
                }
                return InventoryEntry.stanza(engine: engine, image: image!, primary: primary!, passwordEnvironment: passwordEnv,
                                             labels: pairs, windows: windows)
            }
            let limit = FleetConfig.maximumStanzaSize
            let data: Data
            if file == "-" {
                data = (try? FileHandle.standardInput.read(upToCount: limit + 1)) ?? Data()
            } else {
                guard let handle = FileHandle(forReadingAtPath: file) else { throw Failure(.badInput, "cannot read the stanza file \(file)") }
                defer { try? handle.close() }
                do {
                    data = try handle.read(upToCount: limit + 1) ?? Data()
                } catch {
                    throw Failure(.badInput, "cannot read the stanza file \(file)")
                }
            }
            let from = file == "-" ? "the stanza on stdin" : "the stanza file \(file)"
            guard data.count <= limit else { throw Failure(.badInput, "\(from) is larger than \(limit / 1024) KiB; a stanza is a few lines") }
            guard let text = String(data: data, encoding: .utf8) else { throw Failure(.badInput, "\(from) is not UTF-8 text") }
            return text
        }
    }

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
                        throw Failure(.badInput, "database \(name) is in config \(fleet.config); the inventory keeps databases the file "
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
                    throw Failure(.badInput, "\(replaced.count) of the file's databases are already in the inventory ("
                        + replaced.prefix(5).joined(separator: ", ") + (replaced.count > 5 ? ", …" : "")
                        + "); --replace replaces them (nothing imported)")
                }
                let actor = ChangeoverRunner.defaultActor()
                var locks: [DatabaseLock] = []
                for name in replaced { locks.append(try store.lock(database: name, changeover: "db import", actor: actor)) }
                defer { withExtendedLifetime(locks) {} }
                if !replaced.isEmpty {
                    let replacing = Set(replaced)
                    if let active = try store.changeovers().first(where: { replacing.contains($0.database) && $0.machine.canContinue }) {
                        throw Failure(.badInput, "cannot replace database \(active.database): changeover \(active.id) (\(active.machine.step)) "
                            + "has not ended; let it finish, or abort it first (nothing imported)")
                    }
                }
                // Audited before the write they authorise, as `db add` is: one sync for all.
                let now = Date()
                let entries = databases.map { name, _, database in
                    var facts = ["engine": database.engine.rawValue, "image": database.image, "source": "store", "import": source]
                    if let tier = database.labels["tier"] { facts["tier"] = tier }
                    let (outcome, done) = existing.contains(name) ? ("replaced", "replaced in") : ("added", "added to")
                    return AuditEntry(changeover: "", database: name, step: "inventory", outcome: outcome,
                                      message: "\(done) the inventory: \(database.engine.rawValue) on \(database.image) (imported)", facts: facts)
                }
                try Journal(auditLog: config.auditLog, actor: actor).record(entries, at: now) {
                    try store.saveInventory(databases.map { InventoryEntry(name: $0.name, stanza: $0.stanza, addedAt: now, addedBy: actor) })
                }
                Output.line("\(databases.count) database(s) imported into the inventory: \(databases.count - replaced.count) added, "
                    + "\(replaced.count) replaced")
            }
        }

        /// The file's (or stdin's) text, at most the config file's size.
        func text() throws -> String {
            guard file == "-" else {
                do {
                    return try FleetConfig.readText(file)
                } catch {
                    throw Failure(.badInput, error.description.replacingOccurrences(of: "config file", with: "import file"))
                }
            }
            let limit = FleetConfig.maximumFileSize
            let data = (try? FileHandle.standardInput.read(upToCount: limit + 1)) ?? Data()
            guard data.count <= limit else { throw Failure(.badInput, "the file on stdin is larger than \(limit >> 20) MiB") }
            guard let text = String(data: data, encoding: .utf8) else { throw Failure(.badInput, "the file on stdin is not UTF-8 text") }
            return text
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a database from the inventory; refused while it has a changeover that has not ended.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The database's name.") var name: String

        func validate() throws {
            try InventoryCommand.validateName(name)
        }

        func run() async throws {
            try await reporting {
                let config = try fleet.loadFile()
                let store = StateStore(config: config)
                guard try store.inventoryEntry(name) != nil else {
                    if config.databases[name] != nil {
                        throw Failure(.badInput, "database \(name) is in config \(fleet.config), not in the inventory: edit the config file")
                    }
                    throw Failure(.badInput, "no database \(name) in the inventory")
                }
                let actor = ChangeoverRunner.defaultActor()
                let lock = try store.lock(database: name, changeover: "db remove", actor: actor)
                defer { withExtendedLifetime(lock) {} }
                try InventoryCommand.refuseWhileChangingOver(name, store: store, doing: "remove")
                try Journal(auditLog: config.auditLog, actor: actor).record(
                    AuditEntry(changeover: "", database: name, step: "inventory", outcome: "removed",
                               message: "removed from the inventory", facts: ["source": "store"])
                ) { try store.removeInventory(name) }
                Output.line("database \(name) removed from the inventory")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every database, the config file's and the inventory's, and the inventory's that do not resolve, with why.")

        @OptionGroup var fleet: FleetOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                var config = try fleet.loadFile()
                let store = StateStore(config: config)
                let entries = try store.inventory()
                try config.merge(entries, duplicates: .leaveOut)
                let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
                var rows: [Row] = []
                for (name, database) in config.databases {
                    let entry = config.inventory.names.contains(name) ? byName[name] : nil
                    let state = try store.database(name)
                    rows.append(Row(name: name, engine: database.engine.rawValue, image: state?.image ?? database.image,
                                    primary: Output.hostPort(state?.primary ?? database.primary.address, engine: database.engine),
                                    tier: database.labels["tier"], source: entry == nil ? "config" : "store",
                                    addedAt: entry?.addedAt, addedBy: entry?.addedBy))
                }
                for invalid in config.inventory.invalid {
                    let entry = byName[invalid.name]
                    rows.append(Row(name: invalid.name, source: "store", addedAt: entry?.addedAt, addedBy: entry?.addedBy,
                                    invalid: invalid.reason))
                }
                rows.sort { ($0.name, $0.source) < ($1.name, $1.source) }
                if json { return try Output.json(rows) }
                if rows.isEmpty { return Output.line("no databases") }
                Output.table(["DATABASE", "ENGINE", "IMAGE", "PRIMARY", "TIER", "SOURCE"], rows.map {
                    [$0.name, $0.engine ?? "-", $0.image ?? "-", $0.primary ?? "-", $0.tier ?? "-",
                     $0.source + ($0.invalid.map { "  invalid: \($0)" } ?? "")]
                })
            }
        }

        /// One database as `db list` shows it.
        struct Row: Encodable {
            var name: String
            var engine: String?
            /// The image it runs now: the store's if a changeover moved it, else its stanza's.
            var image: String?
            /// Where its primary is now (`host:port`): the store's if a changeover moved it.
            var primary: String?
            var tier: String?
            /// `config` (the file) or `store` (the inventory).
            var source: String
            var addedAt: Date?
            var addedBy: String?
            /// Why an inventory row is left out of the config's databases; nil when it resolves.
            var invalid: String?
            var valid: Bool { invalid == nil }

            enum CodingKeys: String, CodingKey { case name, engine, image, primary, tier, source, addedAt, addedBy, invalid, valid }

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(name, forKey: .name)
                try container.encodeIfPresent(engine, forKey: .engine)
                try container.encodeIfPresent(image, forKey: .image)
                try container.encodeIfPresent(primary, forKey: .primary)
                try container.encodeIfPresent(tier, forKey: .tier)
                try container.encode(source, forKey: .source)
                try container.encodeIfPresent(addedAt, forKey: .addedAt)
                try container.encodeIfPresent(addedBy, forKey: .addedBy)
                try container.encode(valid, forKey: .valid)
                try container.encodeIfPresent(invalid, forKey: .invalid)
            }
        }
    }

    static func validateName(_ name: String) throws {
        if let problem = InventoryEntry.problem(withName: name) { throw ValidationError(problem) }
    }

    /// Refuses while `name` has a changeover that has not ended (scheduled, running, stopped
    /// resumable, or a rollback left unfinished): its stanza is what that changeover acts on.
    static func refuseWhileChangingOver(_ name: String, store: StateStore, doing verb: String) throws {
        if let active = try store.changeovers().first(where: { $0.database == name && $0.machine.canContinue }) {
            throw Failure(.badInput, "cannot \(verb) database \(name): changeover \(active.id) (\(active.machine.step)) has not ended; "
                + "let it finish, or abort it first (changeover abort \(active.id) --yes)")
        }
    }
}
