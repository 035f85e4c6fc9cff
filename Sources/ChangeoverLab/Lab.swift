#if canImport(Glibc)
import Glibc
#endif
import ChangeoverCore
import Foundation
import PostgresClient
import RedisClient

/// Throwaway local databases under one temporary directory: real PostgreSQL servers on free
/// loopback ports, run as the `postgres` user when we are root. `shutdown()` stops every server
/// under the directory (those the lab started and those a changeover made there) and removes it.
public final class Lab: Sendable {
    public let root: String
    public let binDirectory: String
    public let runAs: String?
    public let superuserPassword: String
    public let replicationPassword: String

    public struct Server: Sendable {
        /// The Postgres data directory, or the Redis node directory.
        public var dataDirectory: String
        public var port: Int
        /// Password-free conninfo for the Postgres superuser over TCP.
        public var conninfo: ConnInfo
    }

    public static let redisBinDirectory = "/usr/bin"

    public static let defaultBinDirectory = "/usr/lib/postgresql/15/bin"

    public init(binDirectory: String = Lab.defaultBinDirectory, runAs: String? = "postgres") throws {
        // Servers orphaned by a controller that exited get reparented to us, so we can reap them.
        _ = setChildSubreaper(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0)
        var template = Array("/tmp/chg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LabError("cannot create a temporary directory") }
        root = String(cString: made)
        chmod(root, 0o755)
        self.binDirectory = binDirectory
        self.runAs = runAs
        superuserPassword = "su-" + UUID().uuidString.prefix(13).lowercased()
        replicationPassword = "rp-" + UUID().uuidString.prefix(13).lowercased()
    }

    /// Makes and starts a primary: scram passwords over TCP, a replication role `replicator`.
    public func startPrimary(name: String = "primary", settings: [String: String] = [:]) async throws -> Server {
        let node = "\(root)/\(name)"
        try LocalFiles.makeDirectory(node, owner: runAs, mode: 0o700)
        let pwfile = "\(node)/pwfile"
        try superuserPassword.write(toFile: pwfile, atomically: true, encoding: .utf8)
        if let runAs, getuid() == 0, let pw = getpwnam(runAs) { chown(pwfile, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        let initdb = try await Subprocess.run(
            Subprocess.runAsPrefix(runAs) + ["\(binDirectory)/initdb", "-D", "\(node)/data", "-U", "postgres",
                                             "--pwfile=\(pwfile)", "--auth-local=trust", "--auth-host=scram-sha-256",
                                             "--no-sync", "-E", "UTF8", "--locale=C"],
            environment: ["LC_ALL": "C"], timeout: .seconds(120))
        unlink(pwfile)
        guard initdb.succeeded else { throw LabError("initdb failed: \(initdb.lastErrorLine)") }
        let hba = """
            local all all trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """
        try hba.write(toFile: "\(node)/data/pg_hba.conf", atomically: false, encoding: .utf8)
        let port = FreePort.next()
        let server = LocalPostgres(binDirectory: binDirectory, dataDirectory: "\(node)/data", runAs: runAs)
        var all = ["listen_addresses": "127.0.0.1", "max_wal_senders": "10", "max_replication_slots": "10",
                   "wal_level": "replica", "wal_log_hints": "on"]
        all.merge(settings) { _, new in new }
        _ = try await server.start(port: port, socketDirectory: node, settings: all, logFile: "\(node)/postgres.log",
                                   timeout: .seconds(60))
        let conninfo = try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
        let connection = try await PostgresConnection.connect(conninfo.with("password", superuserPassword),
                                                              timeout: .seconds(10))
        defer { connection.close() }
        _ = try await connection.simpleQuery(
            "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '\(replicationPassword)'", timeout: .seconds(10))
        return Server(dataDirectory: "\(node)/data", port: port, conninfo: conninfo)
    }

    /// A streaming standby of `primary`, for tests that must meet a server in recovery.
    public func startStandby(of primary: Server, name: String = "standby") async throws -> Server {
        let node = "\(root)/\(name)"
        try LocalFiles.makeDirectory(node, owner: runAs, mode: 0o700)
        let backup = try await Subprocess.run(
            Subprocess.runAsPrefix(runAs) + ["\(binDirectory)/pg_basebackup", "-h", "127.0.0.1", "-p", String(primary.port),
                                             "-U", "replicator", "-D", "\(node)/data", "-R", "-X", "stream", "-w"],
            environment: ["PGPASSWORD": replicationPassword], timeout: .seconds(120))
        guard backup.succeeded else { throw LabError("pg_basebackup failed: \(backup.lastErrorLine)") }
        let port = FreePort.next()
        let server = LocalPostgres(binDirectory: binDirectory, dataDirectory: "\(node)/data", runAs: runAs)
        _ = try await server.start(port: port, socketDirectory: node, settings: ["listen_addresses": "127.0.0.1"],
                                   logFile: "\(node)/postgres.log", timeout: .seconds(60))
        return Server(dataDirectory: "\(node)/data", port: port,
                      conninfo: try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres"))
    }

    /// Connects as the superuser to `conninfo` (which carries no password).
    public func connect(_ conninfo: ConnInfo) async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo.with("password", superuserPassword), timeout: .seconds(10))
    }

    /// Starts a Redis primary with `requirepass` (the lab's superuser password).
    public func startRedisPrimary(name: String = "redis-primary") async throws -> Server {
        let node = LocalRedis(binDirectory: Self.redisBinDirectory, nodeDirectory: "\(root)/\(name)")
        let port = FreePort.next()
        _ = try await node.start(port: port, bind: "127.0.0.1", settings: [
            ("requirepass", LocalRedis.quote(superuserPassword)), ("masterauth", LocalRedis.quote(superuserPassword)),
            ("save", "\"\""), ("appendonly", "no"),
            ("repl-diskless-sync-delay", "0"), ("repl-backlog-size", "64mb"),
        ], timeout: .seconds(30))
        return Server(dataDirectory: node.nodeDirectory, port: port,
                      conninfo: try ConnInfo("host=127.0.0.1 port=\(port)"))
    }

    /// A replica of `primary`, for tests that must meet a server that is not a primary.
    public func startRedisReplica(of primary: Server, name: String = "redis-replica") async throws -> Server {
        let node = LocalRedis(binDirectory: Self.redisBinDirectory, nodeDirectory: "\(root)/\(name)")
        let port = FreePort.next()
        _ = try await node.start(port: port, bind: "127.0.0.1", settings: [
            ("requirepass", LocalRedis.quote(superuserPassword)), ("masterauth", LocalRedis.quote(superuserPassword)),
            ("replicaof", "127.0.0.1 \(primary.port)"), ("save", "\"\""),
        ], timeout: .seconds(30))
        return Server(dataDirectory: node.nodeDirectory, port: port, conninfo: try ConnInfo("host=127.0.0.1 port=\(port)"))
    }

    /// The lab's Redis server on `port`, logged in.
    public func redisEndpoint(port: Int) -> RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: port, password: superuserPassword)
    }

    /// Every data directory under the lab whose Postgres server is running.
    public func runningServers() -> [LocalPostgres] {
        files(named: "postmaster.pid").map {
            LocalPostgres(binDirectory: binDirectory, dataDirectory: URL(fileURLWithPath: $0).deletingLastPathComponent().path,
                          runAs: runAs)
        }.filter(\.isRunning)
    }

    /// Every node directory under the lab whose redis-server is running.
    public func runningRedisServers() -> [LocalRedis] {
        files(named: "redis.pid").map {
            LocalRedis(binDirectory: Self.redisBinDirectory, nodeDirectory: URL(fileURLWithPath: $0).deletingLastPathComponent().path)
        }.filter(\.isRunning)
    }

    private func files(named name: String) -> [String] {
        var found: [String] = []
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        while let item = enumerator.nextObject() as? String {
            if item.hasSuffix("/\(name)") || item == name { found.append("\(root)/\(item)") }
        }
        return found
    }

    /// Stops every server under the lab and removes its directory.
    public func shutdown() async {
        for server in runningServers() {
            do {
                try await server.stop(timeout: .seconds(30), signal: SIGQUIT)
            } catch {
                if let pid = server.pidFile()?.pid { kill(pid, SIGKILL) }
            }
        }
        for server in runningRedisServers() {
            try? await server.stop(timeout: .seconds(10), signal: SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// prctl(2) is variadic in C and not exported by Glibc's module; every argument here is an integer.
@_silgen_name("prctl")
private func setChildSubreaper(_ option: Int32, _ arg2: UInt, _ arg3: UInt, _ arg4: UInt, _ arg5: UInt) -> Int32

public struct LabError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
