import ChangeoverCore
import Foundation
import PostgresClient

extension Lab {
    /// A writer of `engine` over `servers`, the first of them the primary and the others where
    /// the primary will be: Postgres through libpq's multi-host list (read-write servers only,
    /// its table made on the primary first), Redis following ROLE. Not started.
    public func writer(_ engine: DatabaseConfig.EngineKind, over servers: [(host: String, port: Int)]) async throws
        -> any WriteProbe
    {
        guard let primary = servers.first else { throw LabError("a writer needs a server") }
        switch engine {
        case .postgres:
            let connection = try await connect(
                try ConnInfo("host=\(primary.host) port=\(primary.port) user=postgres dbname=postgres"))
            defer { connection.close() }
            try await AckedWriter.prepare(on: connection)
            return AckedWriter(
                conninfo: try ConnInfo(
                    "host=\(servers.map(\.host).joined(separator: ",")) port=\(servers.map { String($0.port) }.joined(separator: ",")) "
                        + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
                ).with("password", superuserPassword))
        case .redis:
            return RedisAckedWriter(endpoints: servers.map { redisEndpoint(host: $0.host, port: $0.port) })
        }
    }

    /// The acknowledged writes of a `writer(_:over:)` that the server at `host`:`port` lacks.
    public func missing(_ acknowledged: [Int64], engine: DatabaseConfig.EngineKind, host: String, port: Int)
        async throws -> [Int64]
    {
        switch engine {
        case .postgres:
            let connection = try await connect(try ConnInfo("host=\(host) port=\(port) user=postgres dbname=postgres"))
            defer { connection.close() }
            return try await AckedWriter.missing(acknowledged, on: connection)
        case .redis:
            return try await RedisAckedWriter.missing(acknowledged, on: redisEndpoint(host: host, port: port))
        }
    }
}
