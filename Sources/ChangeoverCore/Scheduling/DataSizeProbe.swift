import Foundation
import PostgresClient
import RedisClient

/// Asks a database's primary how much data a base backup would copy, for the provisioning lead
/// time: Postgres the sum of `pg_database_size`, Redis `used_memory`. Nil when it cannot tell
/// (unreachable, no password): the scheduler then uses what the last copy measured.
public enum DataSizeProbe {
    public static func bytes(
        of database: DatabaseConfig, environment: [String: String],
        timeout: Duration = .seconds(5)
    ) async -> Int64? {
        let password = try? database.password?.value(environment: environment)
        switch database.primary {
        case .postgres(let configured):
            var info = configured.with("connect_timeout", configured["connect_timeout"] ?? "5")
                .with("application_name", "changeover")
            info["password"] = password
            guard let connection = try? await PostgresConnection.connect(info, timeout: timeout) else { return nil }
            defer { connection.close() }
            let result = try? await connection.query(
                "SELECT sum(pg_database_size(oid))::bigint::text FROM pg_database", timeout: timeout)
            return result?.scalar.flatMap { Int64($0) }
        case .redis(let host, let port, let user):
            let endpoint = RedisEndpoint(host: host, port: port, user: user, password: password)
            guard let connection = try? await RedisConnection.connect(endpoint, timeout: timeout) else { return nil }
            defer { connection.close() }
            guard let reply = try? await connection.command(["INFO", "memory"], timeout: timeout) else { return nil }
            return RedisInfo(parsing: reply.string ?? "").integer("used_memory")
        }
    }
}

extension ChangeoverRunner {
    /// The database as the state store knows it now: its current primary and image, which a
    /// changeover changed since the config was written.
    public func currentDatabase(_ name: String) throws -> DatabaseConfig {
        try currentDatabase(name, state: store.database(name))
    }

    /// The database with `state`, the store's word on it as the caller read it (`databases()`).
    public func currentDatabase(_ name: String, state: DatabaseState?) throws -> DatabaseConfig {
        var database = try config.database(name)
        if let state {
            database.image = state.image
            database.primary = try DatabasePrimary.parse(state.primary, engine: database.engine)
        }
        return database
    }
}
