import Foundation

/// Resolves one database's stanza as the config file's own databases are resolved: against the
/// config's images, its provisioner (which decides whether `container:` is needed) and its
/// fleet-wide `notify:`. `FleetConfig` keeps the one its file was resolved with, so that the
/// state store's inventory (`FleetConfig+Inventory`) follows exactly the same rules.
struct DatabaseResolver: Sendable {
    /// The config file, as errors name it.
    var source: String
    /// The config file's directory: relative paths in a stanza are relative to it.
    var base: String
    var images: [String: FleetConfig.Image]
    var provisioner: FleetConfig.ProvisionerConfig.Kind
    /// The fleet's `notify:` as written: a database's own keys go over it.
    var fleetNotify: RawConfig.RawNotify?
    var resolvedFleetNotify: NotifyConfig

    func resolve(_ raw: RawConfig.RawDatabase, name: String) throws(ConfigError) -> DatabaseConfig {
        var database = try raw.resolve(name: name, source: source, images: images, base: base)
        database.notify =
            raw.notify == nil
            ? resolvedFleetNotify
            : try RawConfig.resolveNotify(fleet: fleetNotify, database: raw.notify, source: source, name: name)
        let at = "config \(source), database \(name)"
        switch (provisioner, database.container) {
        case (.local, .some), (.exec, .some):
            throw ConfigError("\(at): container: needs the docker provisioner (provisioner: {kind: docker, socket: …})")
        case (.docker, nil):
            throw ConfigError("\(at): the docker provisioner needs the primary's container (container: NAME)")
        case (.docker, .some(let container)) where !DockerNames.isContainerName(container):
            throw ConfigError("\(at): container \"\(container)\" is not a Docker container name")
        default:
            break
        }
        return database
    }
}
