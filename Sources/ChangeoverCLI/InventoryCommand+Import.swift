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
                let operations = InventoryOperations(config: try fleet.loadFile(), configFile: fleet.config)
                let source = file == "-" ? "on stdin" : file
                let stanzas: [(name: String, stanza: String)]
                do {
                    stanzas = try FleetConfig.importStanzas(try text(), source: source)
                } catch let error as ConfigError {
                    throw Failure(.badInput, error.description)
                }
                let replaced: Int
                do {
                    replaced = try operations.import(stanzas, source: source, replace: replace)
                } catch let error as ConfigError {
                    throw Failure(.badInput, "\(error) (nothing imported)")
                }
                Output.line(
                    "\(stanzas.count) database(s) imported into the inventory: \(stanzas.count - replaced) added, "
                        + "\(replaced) replaced")
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
