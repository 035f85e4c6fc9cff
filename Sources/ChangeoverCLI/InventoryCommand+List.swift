import ArgumentParser
import ChangeoverCore
import Foundation

extension InventoryCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "List every database, the config file's and the inventory's, and the inventory's that do not resolve, with why."
        )

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
                    rows.append(
                        Row(
                            name: name, engine: database.engine.rawValue, image: state?.image ?? database.image,
                            primary: Output.hostPort(
                                state?.primary ?? database.primary.address, engine: database.engine),
                            tier: database.labels["tier"], source: entry == nil ? "config" : "store",
                            addedAt: entry?.addedAt, addedBy: entry?.addedBy))
                }
                for invalid in config.inventory.invalid {
                    let entry = byName[invalid.name]
                    rows.append(
                        Row(
                            name: invalid.name, source: "store", addedAt: entry?.addedAt, addedBy: entry?.addedBy,
                            invalid: invalid.reason))
                }
                rows.sort { ($0.name, $0.source) < ($1.name, $1.source) }
                if json { return try Output.json(rows) }
                if rows.isEmpty { return Output.line("no databases") }
                Output.table(
                    ["DATABASE", "ENGINE", "IMAGE", "PRIMARY", "TIER", "SOURCE"],
                    rows.map {
                        [
                            $0.name, $0.engine ?? "-", $0.image ?? "-", $0.primary ?? "-", $0.tier ?? "-",
                            $0.source + ($0.invalid.map { "  invalid: \($0)" } ?? ""),
                        ]
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

            enum CodingKeys: String, CodingKey {
                case name, engine, image, primary, tier, source, addedAt, addedBy, invalid, valid
            }

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
}
