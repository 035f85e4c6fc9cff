import ArgumentParser
import ChangeoverCore
import Foundation

extension InventoryCommand {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Add a database to the inventory, from a stanza (--file) or from flags; checked as the config's own first.",
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
        @Option(help: "The primary: a libpq conninfo (postgres) or host:port (redis), without a password.") var primary:
            String?
        @Option(name: .customLong("password-env"), help: "The environment variable holding its password.")
        var passwordEnv: String?
        @Option(help: "Its tier label (campaigns order their waves by it).") var tier: String?
        @Option(
            name: .customLong("window"), help: "A maintenance window, e.g. \"Sundays 02:00 UTC for 2h\" (repeatable).")
        var windows: [String] = []
        @Option(name: .customLong("label"), help: "A label KEY=VALUE (repeatable).") var labels: [String] = []
        @Flag(help: "Replace the inventory's database of that name (not one of the config file's).") var replace = false

        func validate() throws {
            try InventoryCommand.validateName(name)
            let flags =
                engine != nil || image != nil || primary != nil || passwordEnv != nil || tier != nil
                || !windows.isEmpty || !labels.isEmpty
            if file != nil {
                guard !flags else {
                    throw ValidationError(
                        "--file does not go with --engine, --image, --primary, --password-env, --tier, --window, --label"
                    )
                }
                return
            }
            guard image != nil, primary != nil else {
                throw ValidationError(
                    "give the stanza with --file PATH (- for stdin), or at least --image and --primary")
            }
            if let engine, DatabaseConfig.EngineKind(rawValue: engine) == nil {
                throw ValidationError("--engine must be postgres or redis, not \"\(engine)\"")
            }
            for label in labels {
                guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
                    throw ValidationError("--label takes KEY=VALUE, not \"\(label)\"")
                }
                if tier != nil, label[..<equals] == "tier" {
                    throw ValidationError("give the tier once: --tier or --label tier=…")
                }
            }
        }

        func run() async throws {
            try await reporting {
                let operations = InventoryOperations(config: try fleet.loadFile(), configFile: fleet.config)
                let (database, change) = try operations.add(name: name, stanza: try stanza(), replace: replace)
                Output.line(
                    "database \(name) \(change.done) the inventory: \(database.engine.rawValue) on \(database.image)"
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
                return InventoryEntry.stanza(
                    engine: engine, image: image!, primary: primary!, passwordEnvironment: passwordEnv,
                    labels: pairs, windows: windows)
            }
            let limit = FleetConfig.maximumStanzaSize
            let data: Data
            if file == "-" {
                data = (try? FileHandle.standardInput.read(upToCount: limit + 1)) ?? Data()
            } else {
                guard let handle = FileHandle(forReadingAtPath: file) else {
                    throw Failure(.badInput, "cannot read the stanza file \(file)")
                }
                defer { try? handle.close() }
                do {
                    data = try handle.read(upToCount: limit + 1) ?? Data()
                } catch {
                    throw Failure(.badInput, "cannot read the stanza file \(file)")
                }
            }
            let from = file == "-" ? "the stanza on stdin" : "the stanza file \(file)"
            guard data.count <= limit else {
                throw Failure(.badInput, "\(from) is larger than \(limit / 1024) KiB; a stanza is a few lines")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw Failure(.badInput, "\(from) is not UTF-8 text")
            }
            return text
        }
    }
}
