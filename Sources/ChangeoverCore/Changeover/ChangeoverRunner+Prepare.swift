import Foundation

/// What a changeover is resolved into before any server is touched: the database as it stands
/// (config, state store, what a stored changeover recorded), the images, and its components.
extension ChangeoverRunner {
    /// Everything a changeover needs, resolved from the config, the state store and the secrets.
    struct Prepared {
        var id: String
        var database: DatabaseConfig
        var fromImage: FleetConfig.Image
        var toImage: FleetConfig.Image
        var oldEndpoint: Endpoint
        /// The container the old primary runs in (docker provisioner).
        var oldContainer: String?
        var components: ChangeoverComponents
        var retries: Retrier

        var engine: any Engine { components.engine }
        var router: any Router { components.router }
        var provisioner: any Provisioner { components.provisioner }
    }

    /// Fails with a one-line `ConfigError` before any server is touched.
    func prepare(
        database name: String, image imageName: String, id: String,
        from recordedImage: String? = nil, primary recordedPrimary: String? = nil,
        container recordedContainer: String? = nil, followerPort recordedFollowerPort: Int? = nil
    )
        throws -> Prepared
    {
        var database = try config.database(name)
        let toImage = try config.image(imageName)
        if let state = try store.database(name) {
            database.image = state.image
            database.primary = try DatabasePrimary.parse(state.primary, engine: database.engine)
            if let container = state.container { database.container = container }
        }
        if let recordedImage { database.image = recordedImage }
        if let recordedPrimary {
            database.primary = try DatabasePrimary.parse(recordedPrimary, engine: database.engine)
        }
        if let recordedContainer { database.container = recordedContainer }
        try chooseFollowerPort(&database, recorded: recordedFollowerPort)
        let fromImage = try config.image(database.image)
        let events = self.events
        let store = self.store
        let retries = Retrier { note in
            store.saveRetry(note, of: id)
            events(.retry(note))
        }
        let progress = ProgressWriter(store: store, changeover: id, events: events)
        let components = try self.components(
            ChangeoverComponents.Context(
                changeover: id, database: database, fromImage: fromImage, toImage: toImage, config: config,
                environment: environment, logger: logger, progress: progress.callAsFunction, retries: retries))
        return Prepared(
            id: id, database: database, fromImage: fromImage, toImage: toImage,
            oldEndpoint: components.engine.currentPrimary, oldContainer: database.container,
            components: components, retries: retries)
    }

    /// The components of a stored changeover: the old primary and images it recorded, whatever
    /// the state store says now.
    func prepare(resuming record: ChangeoverRecord) throws -> Prepared {
        try prepare(
            database: record.database, image: record.toImage, id: record.id,
            from: record.fromImage, primary: record.facts.oldAddress,
            container: record.facts.oldContainer,
            followerPort: record.facts.followerPort)
    }

    /// The follower's port: the one a resumed changeover's follower has; else with
    /// `follower.ports`, the first port of the range that is free and not the primary's; a fixed
    /// `follower.port` the primary holds now (a changeover made its follower the primary) is
    /// refused, with the range to give instead.
    func chooseFollowerPort(_ database: inout DatabaseConfig, recorded: Int?) throws(ConfigError) {
        let primary = database.primary.port
        let local =
            ["127.0.0.1", "localhost", "::1"].contains(database.primary.host) && config.provisioner.kind == .local
        if let recorded {
            database.followerPort = recorded
        } else if let range = database.followerPorts {
            guard let port = range.first(where: { !(local && $0 == primary) && FreePort.isFree($0) }) else {
                throw ConfigError(
                    "no free port in follower.ports \(range.lowerBound)-\(range.upperBound) "
                        + "of database \(database.name)")
            }
            database.followerPort = port
        } else if let port = database.followerPort, local, port == primary {
            throw ConfigError(
                "follower port \(port) of database \(database.name) is its primary's port now (the last changeover "
                    + "made that follower the primary); give a range instead, follower: {ports: \(port)-\(min(65535, port + 7))}, "
                    + "and each changeover takes a free port of it")
        }
    }
}
