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

}

extension InventoryCommand {
    static func validateName(_ name: String) throws {
        if let problem = InventoryEntry.problem(withName: name) { throw ValidationError(problem) }
    }

}
