import ChangeoverCore
import Foundation
import PostgresClient
import RedisClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Throwaway local databases under one temporary directory: real PostgreSQL servers on free
/// loopback ports, run as the `postgres` user when we are root. `shutdown()` stops every server
/// under the directory (those the lab started and those a changeover made there) and removes it,
/// and deletes the test hosts (network namespaces) the lab made.
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
        /// The address the server listens on: 127.0.0.1, or a test host's address.
        public var host: String = "127.0.0.1"
    }

    /// The test hosts `makeNetworkHost()` made, deleted by `shutdown()`.
    private let networkHosts = Mutex<[LabNetworkHost]>([])

    public static let redisBinDirectory = "/usr/bin"

    public static let defaultBinDirectory = "/usr/lib/postgresql/15/bin"

    public init(binDirectory: String = Lab.defaultBinDirectory, runAs: String? = "postgres") throws {
        // Servers orphaned by a controller that exited get reparented to us, so we can reap them.
        let prSetChildSubreaper: Int32 = 36
        _ = setChildSubreaper(prSetChildSubreaper, 1, 0, 0, 0)
        // Test hosts of test runs that were killed before their shutdown.
        LabNetworkHost.sweep()
        var template = Array("/tmp/chg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LabError("cannot create a temporary directory") }
        root = String(cString: made)
        chmod(root, 0o755)
        self.binDirectory = binDirectory
        self.runAs = runAs
        superuserPassword = "su-" + UUID().uuidString.prefix(13).lowercased()
        replicationPassword = "rp-" + UUID().uuidString.prefix(13).lowercased()
    }

    /// A new test host (network namespace) that `shutdown()` deletes.
    public func makeNetworkHost() async throws -> LabNetworkHost {
        let host = try await LabNetworkHost.create()
        networkHosts.withLock { $0.append(host) }
        return host
    }

    /// Makes and starts a primary: scram passwords over TCP, a replication role `replicator`.
    /// On `host` it runs inside the host's namespace and listens on the host's address only
    /// (its unix socket in the node directory still works for local admin).
    public func startPrimary(
        name: String = "primary", settings: [String: String] = [:],
        on host: LabNetworkHost? = nil
    ) async throws -> Server {
        let node = "\(root)/\(name)"
        try LocalFiles.makeDirectory(node, owner: runAs, mode: 0o700)
        let pwfile = "\(node)/pwfile"
        try superuserPassword.write(toFile: pwfile, atomically: true, encoding: .utf8)
        if let runAs, getuid() == 0, let pw = getpwnam(runAs) { chown(pwfile, pw.pointee.pw_uid, pw.pointee.pw_gid) }
        let initdb = try await Subprocess.run(
            Subprocess.runAsPrefix(runAs) + [
                "\(binDirectory)/initdb", "-D", "\(node)/data", "-U", "postgres",
                "--pwfile=\(pwfile)", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--no-sync", "-E", "UTF8", "--locale=C",
            ],
            environment: ["LC_ALL": "C"], timeout: .seconds(120))
        unlink(pwfile)
        guard initdb.succeeded else { throw LabError("initdb failed: \(initdb.lastErrorLine)") }
        // Clients of a test host come from its link's root end, somewhere in 10.0.0.0/8.
        let hba = """
            local all all trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256
            host all all 10.0.0.0/8 scram-sha-256
            host replication all 10.0.0.0/8 scram-sha-256

            """
        try hba.write(toFile: "\(node)/data/pg_hba.conf", atomically: false, encoding: .utf8)
        let port = FreePort.next()
        let address = host?.address ?? "127.0.0.1"
        let server =
            try launcher(for: host, node: node, running: "\(binDirectory)/postgres", runAs: runAs).map {
                LocalPostgres(binDirectory: $0, dataDirectory: "\(node)/data", runAs: nil)
            } ?? LocalPostgres(binDirectory: binDirectory, dataDirectory: "\(node)/data", runAs: runAs)
        var all = [
            "listen_addresses": address, "max_wal_senders": "10", "max_replication_slots": "10",
            "wal_level": "replica", "wal_log_hints": "on",
        ]
        all.merge(settings) { _, new in new }
        _ = try await server.start(
            port: port, socketDirectory: node, settings: all, logFile: "\(node)/postgres.log",
            timeout: .seconds(60))
        let conninfo = try ConnInfo("host=\(address) port=\(port) user=postgres dbname=postgres")
        let connection = try await PostgresConnection.connect(
            conninfo.with("password", superuserPassword),
            timeout: .seconds(10))
        defer { connection.close() }
        _ = try await connection.simpleQuery(
            "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '\(replicationPassword)'", timeout: .seconds(10))
        return Server(dataDirectory: "\(node)/data", port: port, conninfo: conninfo, host: address)
    }

    /// For a server on `host`: a bin directory under `node` holding a script named like `binary`
    /// that execs it (as `runAs`) inside the host's namespace. `ip netns exec`, `setpriv`
    /// and the script all exec, so the server keeps the PID it was spawned with and is tracked
    /// (pid file, stop, shutdown) like any other server of the lab.
    private func launcher(for host: LabNetworkHost?, node: String, running binary: String, runAs: String?) throws
        -> String?
    {
        guard let host else { return nil }
        let directory = "\(node)/netns-bin"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = host.launcherScript(Subprocess.runAsPrefix(runAs) + [binary])
        let binary = URL(fileURLWithPath: binary).lastPathComponent
        guard
            FileManager.default.createFile(
                atPath: "\(directory)/\(binary)", contents: Data(script.utf8),
                attributes: [.posixPermissions: 0o755])
        else { throw LabError("cannot write \(directory)/\(binary)") }
        return directory
    }

    /// A streaming standby of `primary`, for tests that must meet a server in recovery.
    public func startStandby(of primary: Server, name: String = "standby") async throws -> Server {
        let node = "\(root)/\(name)"
        try LocalFiles.makeDirectory(node, owner: runAs, mode: 0o700)
        let backup = try await Subprocess.run(
            Subprocess.runAsPrefix(runAs) + [
                "\(binDirectory)/pg_basebackup", "-h", primary.host, "-p", String(primary.port),
                "-U", "replicator", "-D", "\(node)/data", "-R", "-X", "stream", "-w",
            ],
            environment: ["PGPASSWORD": replicationPassword], timeout: .seconds(120))
        guard backup.succeeded else { throw LabError("pg_basebackup failed: \(backup.lastErrorLine)") }
        let port = FreePort.next()
        let server = LocalPostgres(binDirectory: binDirectory, dataDirectory: "\(node)/data", runAs: runAs)
        _ = try await server.start(
            port: port, socketDirectory: node, settings: ["listen_addresses": "127.0.0.1"],
            logFile: "\(node)/postgres.log", timeout: .seconds(60))
        return Server(
            dataDirectory: "\(node)/data", port: port,
            conninfo: try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres"))
    }

    /// Connects as the superuser to `conninfo` (which carries no password).
    public func connect(_ conninfo: ConnInfo) async throws -> PostgresConnection {
        try await PostgresConnection.connect(conninfo.with("password", superuserPassword), timeout: .seconds(10))
    }

    /// Starts a Redis primary with `requirepass` (the lab's superuser password); on `host`, inside
    /// the host's namespace, bound to the host's address.
    public func startRedisPrimary(name: String = "redis-primary", on host: LabNetworkHost? = nil) async throws -> Server
    {
        let nodeDirectory = "\(root)/\(name)"
        let launcher = try launcher(
            for: host, node: nodeDirectory, running: "\(Self.redisBinDirectory)/redis-server", runAs: nil)
        let node = LocalRedis(binDirectory: launcher ?? Self.redisBinDirectory, nodeDirectory: nodeDirectory)
        let port = FreePort.next()
        let address = host?.address ?? "127.0.0.1"
        _ = try await node.start(
            port: port, bind: address,
            settings: [
                ("requirepass", LocalRedis.quote(superuserPassword)),
                ("masterauth", LocalRedis.quote(superuserPassword)),
                ("save", "\"\""), ("appendonly", "no"),
                ("repl-diskless-sync-delay", "0"), ("repl-backlog-size", "64mb"),
            ], timeout: .seconds(30))
        return Server(
            dataDirectory: node.nodeDirectory, port: port,
            conninfo: try ConnInfo("host=\(address) port=\(port)"), host: address)
    }

    /// A replica of `primary`, for tests that must meet a server that is not a primary.
    public func startRedisReplica(of primary: Server, name: String = "redis-replica") async throws -> Server {
        let node = LocalRedis(binDirectory: Self.redisBinDirectory, nodeDirectory: "\(root)/\(name)")
        let port = FreePort.next()
        _ = try await node.start(
            port: port, bind: "127.0.0.1",
            settings: [
                ("requirepass", LocalRedis.quote(superuserPassword)),
                ("masterauth", LocalRedis.quote(superuserPassword)),
                ("replicaof", "\(primary.host) \(primary.port)"), ("save", "\"\""),
            ], timeout: .seconds(30))
        return Server(
            dataDirectory: node.nodeDirectory, port: port, conninfo: try ConnInfo("host=127.0.0.1 port=\(port)"))
    }

    /// The lab's Redis server on `port` of 127.0.0.1, logged in.
    public func redisEndpoint(port: Int) -> RedisEndpoint {
        redisEndpoint(host: "127.0.0.1", port: port)
    }

    /// The lab's Redis server on `host:port` (a test host's address), logged in.
    public func redisEndpoint(host: String, port: Int) -> RedisEndpoint {
        RedisEndpoint(host: host, port: port, password: superuserPassword)
    }

    /// The lab's Redis `server`, wherever it listens, logged in.
    public func redisEndpoint(_ server: Server) -> RedisEndpoint {
        redisEndpoint(host: server.host, port: server.port)
    }

    /// Every data directory under the lab whose Postgres server is running.
    public func runningServers() -> [LocalPostgres] {
        files(named: "postmaster.pid").map {
            LocalPostgres(
                binDirectory: binDirectory, dataDirectory: URL(fileURLWithPath: $0).deletingLastPathComponent().path,
                runAs: runAs)
        }.filter(\.isRunning)
    }

    /// Every node directory under the lab whose redis-server is running.
    public func runningRedisServers() -> [LocalRedis] {
        files(named: "redis.pid").map {
            LocalRedis(
                binDirectory: Self.redisBinDirectory,
                nodeDirectory: URL(fileURLWithPath: $0).deletingLastPathComponent().path)
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

    /// Stops every server under the lab (also those on its test hosts), deletes its test hosts
    /// and removes its directory.
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
        let hosts = networkHosts.withLock { hosts in
            defer { hosts = [] }
            return hosts
        }
        for host in hosts { await host.remove() }
        // The ssh connections a controller left to its hosts (they would linger a minute).
        _ = Subprocess.killProcesses(commandLineContaining: "ControlPath=\(root)/")
        LabSSHHost.restoreForwarding(lab: self)
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
