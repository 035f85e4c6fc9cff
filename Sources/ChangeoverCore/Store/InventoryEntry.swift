import Foundation

/// A database kept in the state store's inventory rather than in the config file: its YAML
/// stanza, exactly what would sit under `databases: NAME:` in the config, and who added it when.
///
/// The stanza is kept as text and resolved against the config every time a config is loaded
/// (`FleetConfig+Inventory`), so that it follows the config's images and defaults as a database
/// written in the file does.
public struct InventoryEntry: Sendable, Equatable {
    public var name: String
    public var stanza: String
    public var addedAt: Date
    /// The actor that added (or last replaced) it: `user@host pid N`.
    public var addedBy: String

    public init(name: String, stanza: String, addedAt: Date, addedBy: String) {
        self.name = name
        self.stanza = stanza
        self.addedAt = addedAt
        self.addedBy = addedBy
    }

    /// The longest name accepted: a name becomes a lock file's name in the state directory.
    public static let maximumNameLength = 128

    /// Why `name` cannot name a database of the inventory, or nil when it can: letters, digits,
    /// `-`, `_` and `.`, starting with a letter or digit (it becomes a lock file's name).
    public static func problem(withName name: String) -> String? {
        guard !name.isEmpty else { return "a database name is not empty" }
        guard name.utf8.count <= maximumNameLength else {
            return "a database name of \(name.utf8.count) bytes (at most \(maximumNameLength))"
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }),
            name.first!.isLetter || name.first!.isNumber
        else {
            return "bad database name \"\(name)\" (letters, digits, - _ . only, starting with a letter or digit)"
        }
        return nil
    }
}
