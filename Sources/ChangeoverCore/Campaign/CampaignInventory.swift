import Foundation

extension CampaignEntry {
    /// The config's databases as a campaign sees them: the image and primary the last
    /// changeover left (from the store), the `tier` label, the switchover estimate from history.
    public static func inventory(config: FleetConfig, store: StateStore) throws -> [CampaignEntry] {
        try config.databases.values.sorted { $0.name < $1.name }.map { database in
            let state = try store.database(database.name)
            let host =
                state.flatMap { try? DatabasePrimary.parse($0.primary, engine: database.engine).host }
                ?? database.primary.host
            return CampaignEntry(
                database: database.name, engine: database.engine, image: state?.image ?? database.image,
                tier: database.labels["tier"], host: host, schedule: config.schedule(for: database),
                needed: SwitchoverEstimate.switchover(
                    history: try store.durations(database: database.name, step: DurationSample.switchover, limit: 5),
                    database: database.name, policy: config.scheduling
                ).duration)
        }
    }
}
