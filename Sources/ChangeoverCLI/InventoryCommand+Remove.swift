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
                try InventoryOperations(config: try fleet.loadFile(), configFile: fleet.config).remove(name: name)
                Output.line("database \(name) removed from the inventory")
            }
        }
    }
}
