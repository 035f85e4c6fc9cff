import ChangeoverCore
import Foundation
import PostgresClient
import RedisClient

/// One Postgres server in a lab of its own, for the client library's tests: the lab's primary
/// (scram over TCP, run as `postgres`) plus a role `app` that logs in and replicates with a
/// password full of quotes and backslashes. `stop()` shuts the lab down.
public final class LabPostgres: Sendable {
    public static let appPassword = #"pw'app\secret 42"#

    public let lab: Lab
    public let server: Lab.Server

    public var port: Int { server.port }

    /// The role `app`, with its password, over TCP.
    public var app: ConnInfo {
        server.conninfo.with("user", "app").with("password", Self.appPassword)
    }

    private init(lab: Lab, server: Lab.Server) {
        self.lab = lab
        self.server = server
    }

    /// A lab, its primary, and the role `app`.
    public static func start() async throws -> LabPostgres {
        let lab = try Lab()
        do {
            let server = try await lab.startPrimary(name: "postgres")
            let admin = try await lab.connect(server.conninfo)
            defer { admin.close() }
            let password = appPassword.replacingOccurrences(of: "'", with: "''")
            _ = try await admin.simpleQuery(
                "CREATE ROLE app LOGIN REPLICATION PASSWORD '\(password)'", timeout: .seconds(10))
            return LabPostgres(lab: lab, server: server)
        } catch {
            await lab.shutdown()
            throw error
        }
    }

    /// Stops the server and removes its directory. Idempotent.
    public func stop() async { await lab.shutdown() }
}

/// One redis-server in a lab of its own, for the client library's tests: no password unless
/// `settings` set one, nothing saved to disk. `stop()` shuts the lab down.
public final class LabRedis: Sendable {
    public let lab: Lab
    public let port: Int

    /// The server, with no credentials.
    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    private init(lab: Lab, port: Int) {
        self.lab = lab
        self.port = port
    }

    /// Starts a server with `settings` (redis.conf lines: name, value) on a free loopback port,
    /// and waits until it answers.
    public static func start(_ settings: [(String, String)] = []) async throws -> LabRedis {
        let lab = try Lab(runAs: nil)
        do {
            let node = LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: "\(lab.root)/redis")
            let port = FreePort.next()
            _ = try await node.start(
                port: port, bind: "127.0.0.1", settings: [("save", "\"\""), ("appendonly", "no")] + settings,
                timeout: .seconds(30))
            return LabRedis(lab: lab, port: port)
        } catch {
            await lab.shutdown()
            throw error
        }
    }

    /// Runs `body` with a fresh server and stops the server afterwards, also when `body` throws.
    public static func with<R>(
        _ settings: [(String, String)] = [], _ body: (LabRedis) async throws -> R
    ) async throws -> R {
        let server = try await start(settings)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Stops the server and removes its directory. Idempotent.
    public func stop() async { await lab.shutdown() }
}
