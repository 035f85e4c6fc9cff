import Foundation
import Yams

/// What the state store's inventory brought to a config.
public struct InventoryMerge: Sendable {
    /// The databases of `FleetConfig.databases` that came from the store; the others are the file's.
    public var names: Set<String> = []
    /// The rows that do not resolve against this config, left out of `databases`.
    public var invalid: [InvalidInventoryEntry] = []

    public init() {}
}

/// A row of the inventory that does not resolve (its image was removed from the config, its
/// window does not parse…): left out of the config's databases, shown by `db list`.
public struct InvalidInventoryEntry: Sendable, Equatable {
    public var name: String
    /// What is wrong, in one line that quotes no secret.
    public var reason: String

    public init(name: String, reason: String) {
        self.name = name
        self.reason = reason
    }
}

/// The databases kept in the state store (`InventoryEntry`), resolved by the same rules as the
/// config file's own: the stanza is decoded as a `databases: NAME:` entry of the file and
/// resolved against the file's images, provisioner, defaults and `notify:`.
///
/// The merge rules:
/// - A name that is both in the file and in the store is an error that names it: which one is
///   meant is not the controller's to guess. (`changeover db remove NAME` or an edit of the
///   file settles it; `db` itself reads the file alone, so it still works.)
/// - A row that no longer resolves does not make every command unusable: it is left out of
///   `databases`, with its reason in `inventory.invalid` (the CLI warns on stderr, `db list`
///   shows it as invalid).
/// - Secrets come from the environment only (`password: {env: NAME}`): a `{file: PATH}` is one
///   host's, and the store is shared by hosts.
/// - `schedule:` in the file names the file's databases: it is resolved before the merge.
///
/// Reading the store creates nothing: a state directory without state has no inventory.
extension FleetConfig {
    /// The largest stanza accepted: a database's stanza is a few hundred bytes.
    public static let maximumStanzaSize = 64 * 1024

    /// Reads the inventory of the store this config names and merges it (see the rules above).
    /// Throws the store's `StoreError` when it cannot be read, a `ConfigError` for a name that
    /// is also in the file.
    public mutating func mergeInventory(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        try merge(StateStore(config: self, environment: environment).inventory())
    }

    /// What `merge` does with a name that is both in the file and in the store.
    public enum DuplicateRule: Sendable {
        /// The load fails with an error naming it: what every command that acts does.
        case fail
        /// The store's row is listed in `inventory.invalid` and the file's database kept: what
        /// `db list` shows.
        case leaveOut
    }

    /// Adds the databases of `entries` that resolve to `databases` and lists the others in
    /// `inventory.invalid`. A name the file has too is an error (nothing is added), or with
    /// `.leaveOut` an invalid row.
    public mutating func merge(_ entries: [InventoryEntry], duplicates: DuplicateRule = .fail) throws(ConfigError) {
        let inFile = Set(entries.filter { databases[$0.name] != nil && !inventory.names.contains($0.name) }.map(\.name))
        let source = resolver?.source ?? "file"
        let duplicate = { (name: String) in
            "database \(name) is both in config \(source) and in the state store's inventory; "
                + "remove one (changeover db remove \(name), or edit the config file)"
        }
        if duplicates == .fail, let name = inFile.min() { throw ConfigError(duplicate(name)) }
        for entry in entries {
            if inFile.contains(entry.name) {
                inventory.invalid.append(InvalidInventoryEntry(name: entry.name, reason: duplicate(entry.name)))
                continue
            }
            do {
                databases[entry.name] = try resolveInventory(name: entry.name, stanza: entry.stanza)
                inventory.names.insert(entry.name)
            } catch {
                databases[entry.name] = nil
                inventory.names.remove(entry.name)
                inventory.invalid.removeAll { $0.name == entry.name }
                inventory.invalid.append(
                    InvalidInventoryEntry(name: entry.name, reason: Self.reason(error, name: entry.name)))
            }
        }
    }

    /// The database `stanza` describes, resolved as if it sat under `databases: NAME:` in this
    /// config's file; or a one-line error, starting `inventory database NAME:`, that says what
    /// is wrong and quotes no secret. Does not look at the file's own databases.
    public func resolveInventory(name: String, stanza: String) throws(ConfigError) -> DatabaseConfig {
        if let problem = InventoryEntry.problem(withName: name) { throw ConfigError("inventory: \(problem)") }
        let at = Self.inventoryPrefix(name)
        guard let resolver else { throw ConfigError("\(at): the config was not read from a file") }
        let raw = try Self.decodeStanza(stanza, at: at)
        for (key, secret) in [
            ("password", raw.password), ("replication.password", raw.replication?.password),
            ("router.password", raw.router?.password),
        ] {
            if case .file? = secret {
                throw ConfigError(
                    "\(at): \(key) is read from a file; a database in the store gives its secrets as {env: NAME} "
                        + "(a file is one host's, the store is every host's)")
            }
        }
        do {
            return try resolver.resolve(raw, name: name)
        } catch {
            // The file's wording names the file; this database is not in it.
            let text = String(describing: error)
            let fileAt = "config \(resolver.source), database \(name)"
            throw ConfigError(text.hasPrefix(fileAt) ? at + text.dropFirst(fileAt.count) : text)
        }
    }

    static func inventoryPrefix(_ name: String) -> String { "inventory database \(name)" }

    /// The error without the `inventory database NAME` it starts with (and the `: ` or `, `
    /// after it): `unknown image "pg14" (…)`, `catchUp.timeout: "1x" is not a duration (…)`.
    /// An error of several lines becomes one, its problems separated by `; `.
    static func reason(_ error: any Error, name: String) -> String {
        let prefix = inventoryPrefix(name)
        return String(describing: error).split(separator: "\n").map { line in
            guard line.hasPrefix(prefix + ": ") || line.hasPrefix(prefix + ", ") else { return String(line) }
            return String(line.dropFirst(prefix.count + 2))
        }.joined(separator: "; ")
    }

    /// The databases of an import file, a config's `databases:` section on its own (`databases:`
    /// and under it each name and its stanza), as stanza texts in name order. Each stanza is the
    /// YAML its node is (comments are not kept), read back as the file's own would be; checking
    /// them is `resolveInventory`'s. The file gets the config file's checks against text that
    /// would crash or swamp the YAML parser.
    public static func importStanzas(_ text: String, source: String) throws(ConfigError) -> [(
        name: String, stanza: String
    )] {
        try precheck(text, source: source)
        let composed = try compose(text, malformed: "malformed import file \(source)")
        let expected = "give a config's databases: section (databases:, then each database's name and stanza)"
        guard let document = composed, case .mapping(let top) = document else {
            throw ConfigError("import file \(source) \(kind(of: composed) ?? "is not a mapping"): \(expected)")
        }
        if let other = NodeDecoder.pairs(of: top).compactMap({ $0.key.string }).first(where: { $0 != "databases" }) {
            throw ConfigError("import file \(source) has \(other): beside databases:; \(expected)")
        }
        let stanzas = try databaseStanzas(document, source: source)
        guard !stanzas.isEmpty else { throw ConfigError("import file \(source) has no databases: \(expected)") }
        // Unknown keys are found here, where their lines are the file's: the stanzas are
        // checked again as texts of their own, whose lines are not.
        let unknownKeys = UnknownKeys()
        for (name, node) in stanzas {
            _ = try? NodeDecoder.decode(
                RawConfig.RawDatabase.self, from: node,
                codingPath: [NodeDecoder.Key("databases"), NodeDecoder.Key(name)], unknownKeys: unknownKeys)
        }
        guard unknownKeys.isEmpty else { throw unknownKeysError(unknownKeys, at: "import file \(source) line ") }
        var texts: [(name: String, stanza: String)] = []
        texts.reserveCapacity(stanzas.count)
        for (name, node) in stanzas.reversed() {
            do {
                texts.append((name, try Yams.serialize(node: node, width: -1, allowUnicode: true)))
            } catch {
                throw ConfigError("import file \(source), database \(name): \(oneLine(String(describing: error)))")
            }
        }
        return texts
    }

    /// Decodes a stanza as the file's `databases:` entries are decoded, after the same checks
    /// against text that would crash or swamp the YAML parser. Errors never quote the text.
    static func decodeStanza(_ text: String, at: String) throws(ConfigError) -> RawConfig.RawDatabase {
        guard text.utf8.count <= maximumStanzaSize else {
            throw ConfigError("\(at): a stanza of \(text.utf8.count) bytes; at most \(maximumStanzaSize / 1024) KiB")
        }
        guard !text.allSatisfy(\.isWhitespace) else {
            throw ConfigError("\(at): the stanza is empty (give engine:, image:, primary:, …)")
        }
        do {
            try precheck(text, source: "stanza")
        } catch {
            let text = String(describing: error)
            let prefix = "malformed config stanza: "
            throw ConfigError(
                "\(at): malformed stanza: " + (text.hasPrefix(prefix) ? String(text.dropFirst(prefix.count)) : text))
        }
        let document = try compose(text, malformed: "\(at): malformed stanza")
        if let kind = kind(of: document) {
            throw ConfigError("\(at): the stanza \(kind), not a mapping of settings (engine:, image:, primary:, …)")
        }
        let unknownKeys = UnknownKeys()
        let raw: RawConfig.RawDatabase
        do throws(ConfigError) {
            raw = try decode(
                RawConfig.RawDatabase.self, from: document!, malformed: "\(at): malformed stanza",
                unknownKeys: unknownKeys)
        } catch {
            throw unknownKeys.isEmpty ? error : unknownKeysError(unknownKeys, at: "\(at), line ", then: error)
        }
        guard unknownKeys.isEmpty else { throw unknownKeysError(unknownKeys, at: "\(at), line ") }
        return raw
    }
}

extension InventoryEntry {
    /// The stanza the `db add` flags stand for, in the order an operator writes one:
    /// `engine`, `image`, `primary`, `password: {env: …}`, `labels`, `windows`. Values are
    /// double-quoted YAML strings, so that any text reads back as it was given.
    public static func stanza(
        engine: String?, image: String, primary: String, passwordEnvironment: String?,
        labels: [(String, String)], windows: [String]
    ) -> String {
        var lines: [String] = []
        if let engine { lines.append("engine: \(quoted(engine))") }
        lines.append("image: \(quoted(image))")
        lines.append("primary: \(quoted(primary))")
        if let passwordEnvironment { lines.append("password: {env: \(quoted(passwordEnvironment))}") }
        if !labels.isEmpty {
            lines.append("labels:")
            for (key, value) in labels {
                let plain =
                    key.first?.isLetter == true
                    && key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }
                lines.append("  \(plain ? key : quoted(key)): \(quoted(value))")
            }
        }
        if !windows.isEmpty {
            lines.append("windows:")
            for window in windows { lines.append("  - \(quoted(window))") }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` as a YAML double-quoted scalar.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
