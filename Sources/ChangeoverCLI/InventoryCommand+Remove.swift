import ArgumentParser
import ChangeoverCore
import Foundation

extension InventoryCommand {
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
                        throw Failure(
                            .badInput,
                            "database \(name) is in config \(fleet.config), not in the inventory: edit the config file")
                    }
                    throw Failure(.badInput, "no database \(name) in the inventory")
                }
                let actor = ChangeoverRunner.defaultActor()
                let lock = try store.lock(database: name, changeover: "db remove", actor: actor)
                defer { withExtendedLifetime(lock) {} }
                try InventoryCommand.refuseWhileChangingOver(name, store: store, doing: "remove")
                try Journal(auditLog: config.auditLog, actor: actor).record(
                    AuditEntry(
                        changeover: "", database: name, step: "inventory", outcome: "removed",
                        message: "removed from the inventory", facts: ["source": "store"])
                ) { try store.removeInventory(name) }
                Output.line("database \(name) removed from the inventory")
            }
        }
    }
}
