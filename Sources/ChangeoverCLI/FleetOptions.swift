import ArgumentParser
import ChangeoverCore
import Foundation

/// What every verb that reads the fleet takes.
struct FleetOptions: ParsableArguments {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "The fleet's YAML config file (default: $CHANGEOVER_CONFIG, else \(FleetOptions.defaultPath)).",
            valueName: "config"))
    var configFile: String?

    static let defaultPath = "/etc/changeover/fleet.yaml"

    /// The config file: `--config`, else `$CHANGEOVER_CONFIG`, else `/etc/changeover/fleet.yaml`.
    var config: String { Self.resolve(configFile).path }

    /// The path to read and where it came from, for errors that name the path tried.
    static func resolve(_ given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> (
        path: String, origin: String?
    ) {
        if let given { return (given, nil) }
        if let path = environment["CHANGEOVER_CONFIG"], !path.isEmpty { return (path, "from CHANGEOVER_CONFIG") }
        return (defaultPath, "the default; give --config FILE or set CHANGEOVER_CONFIG")
    }

    /// The config file with the state store's inventory merged. A stored database that does
    /// not resolve is left out with a warning on stderr; a store that cannot be read fails as
    /// the store does (not as bad input).
    func load() throws -> FleetConfig {
        var loaded = try loadFile()
        do {
            try loaded.mergeInventory()
        } catch let error as ConfigError {
            throw Failure(.badInput, error.description)
        }
        for invalid in loaded.inventory.invalid {
            Output.warning("inventory database \(invalid.name) left out: \(invalid.reason)")
        }
        return loaded
    }

    /// The config file alone, without the inventory (`db` reads and changes the inventory itself).
    func loadFile() throws -> FleetConfig { try Self.loadFile(configFile) }

    /// The file `given` names, or the default one.
    static func loadFile(_ given: String?) throws -> FleetConfig {
        let (path, origin) = resolve(given)
        if let origin, !FileManager.default.isReadableFile(atPath: path) {
            throw Failure(.badInput, "cannot read config file \(path) (\(origin))")
        }
        do {
            return try FleetConfig.load(path: path, mergingInventory: false)
        } catch {
            throw Failure(.badInput, error.description)
        }
    }
}
