import ChangeoverCore
import Foundation
import PostgresClient
import RedisClient

/// Throwaway dockerized databases for the docker provisioner's tests: primaries started as
/// containers of the old-libc images through the Engine API (host network, free loopback ports,
/// a named volume each), a fleet config that uses the docker provisioner, and a sweep that
/// removes everything labelled with this lab's run label — what the lab made and what any
/// changeover made for it — reporting what it had to remove.
public final class DockerLab: Sendable {
    public let client: DockerEngineClient
    /// `org.changeover.test=<run>` on every container and volume made for this lab (`make
    /// docker-test` sweeps a run's), and `org.changeover.test.lab=<id>`, this lab's own.
    public let run: String
    public let id: String
    /// State, audit log and config live here.
    public let root: String
    public let superuserPassword: String
    public let replicationPassword: String

    public struct Server: Sendable {
        public var container: String
        public var port: Int
        /// Password-free conninfo for the Postgres superuser over TCP (Postgres only).
        public var conninfo: ConnInfo?
    }

    public static let postgresOld = "changeover/postgres:15-old"
    public static let postgresPatched = "changeover/postgres:15-patched"
    public static let redisOld = "changeover/redis:7-old"
    public static let redisPatched = "changeover/redis:7-patched"

    /// `socket` is the engine's (`unix://` prefix allowed); `run` names this test run.
    public init(socket: String, run: String) throws {
        client = DockerEngineClient(socket: socket)
        self.run = run
        id = UUID().uuidString.prefix(8).lowercased()
        var template = Array("/tmp/chg-docker-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw LabError("cannot create a temporary directory") }
        root = String(cString: made)
        superuserPassword = "su-" + UUID().uuidString.prefix(13).lowercased()
        replicationPassword = "rp-" + UUID().uuidString.prefix(13).lowercased()
    }

    public var labels: [String: String] { ["org.changeover.test": run, "org.changeover.test.lab": id] }
    public var labelFilter: String { "org.changeover.test.lab=\(id)" }

    private func uniqueName(_ prefix: String) -> String {
        "chg-test-\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A Postgres primary on `image`: scram passwords over TCP, a replication role `replicator`.
    public func startPostgresPrimary(image: String = DockerLab.postgresOld) async throws -> Server {
        let name = uniqueName("pg")
        let port = FreePort.next()
        try await client.createVolume(name, labels: labels)
        _ = try await client.createContainer(
            name,
            DockerContainerSpec(
                image: image,
                command: [
                    "primary", "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", "max_wal_senders=10",
                    "-c", "max_replication_slots=10", "-c", "wal_level=replica",
                ],
                environment: ["POSTGRES_PASSWORD=\(superuserPassword)", "POSTGRES_INITDB_ARGS=--no-sync"],
                labels: labels.merging(["org.changeover.role": "test-primary"]) { _, new in new }, stopSignal: "SIGINT",
                networkMode: "host", volumes: [(name, "/var/lib/postgresql/data")]))
        try await client.start(name)
        let conninfo = try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
        let connection = try await connectWhenReady(conninfo, container: name)
        defer { connection.close() }
        _ = try await connection.simpleQuery(
            "CREATE ROLE replicator REPLICATION LOGIN PASSWORD '\(replicationPassword)'", timeout: .seconds(10))
        return Server(container: name, port: port, conninfo: conninfo)
    }

    /// Connects as the superuser once the server in `container` accepts connections (initdb and
    /// start take seconds on a busy disk).
    public func connectWhenReady(_ conninfo: ConnInfo, container: String, timeout: Duration = .seconds(120))
        async throws -> PostgresConnection
    {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let connection = try? await connect(conninfo) { return connection }
            let inspected = try await client.container(container)
            guard inspected.running else {
                throw LabError(
                    "container \(container) exited (code \(inspected.exitCode)): \(try await client.logs(container, tail: 5))"
                )
            }
            guard clock.now < deadline else {
                throw LabError("postgres in \(container) did not accept connections in \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    public func connect(_ conninfo: ConnInfo) async throws -> PostgresConnection {
        try await PostgresConnection.connect(
            conninfo.with("password", superuserPassword).with("connect_timeout", "2"),
            timeout: .seconds(5))
    }

    /// A Redis primary on `image` with `requirepass` (the lab's superuser password).
    public func startRedisPrimary(image: String = DockerLab.redisOld) async throws -> Server {
        let name = uniqueName("redis")
        let port = FreePort.next()
        try await client.createVolume(name, labels: labels)
        _ = try await client.createContainer(
            name,
            DockerContainerSpec(
                image: image,
                command: [
                    "--port", String(port), "--bind", "127.0.0.1", "--requirepass", superuserPassword,
                    "--masterauth", superuserPassword, "--save", "", "--appendonly", "no",
                    "--repl-diskless-sync-delay", "0", "--repl-backlog-size", "64mb",
                ],
                labels: labels.merging(["org.changeover.role": "test-primary"]) { _, new in new },
                networkMode: "host", volumes: [(name, "/data")]))
        try await client.start(name)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while !FreePort.accepts(port) {
            guard clock.now < deadline, try await client.container(name).running else {
                throw LabError("redis in \(name) did not listen: \(try await client.logs(name, tail: 5))")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return Server(container: name, port: port, conninfo: nil)
    }

    public func redisEndpoint(port: Int) -> RedisEndpoint {
        RedisEndpoint(host: "127.0.0.1", port: port, password: superuserPassword)
    }

    /// Containers and volumes that carry this lab's run label.
    public func leftovers() async throws -> (containers: [String], volumes: [String]) {
        (try await client.containers(label: labelFilter), try await client.volumes(label: labelFilter))
    }

    /// Removes `containers` (stopping Postgres cleanly is not needed: they are thrown away) and
    /// their volumes of the same name.
    public func remove(containers: [String]) async {
        for name in containers {
            try? await client.removeContainer(name, force: true)
            try? await client.removeVolume(name)
        }
    }

    /// Removes everything labelled with the run label and the lab's directory. Returns what it found.
    @discardableResult
    public func sweep() async -> (containers: [String], volumes: [String]) {
        let found = (try? await leftovers()) ?? (containers: [], volumes: [])
        for name in found.containers { try? await client.removeContainer(name, force: true) }
        for name in found.volumes { try? await client.removeVolume(name) }
        try? FileManager.default.removeItem(atPath: root)
        return found
    }

    /// The fleet config: the docker provisioner on this lab's engine, two images per engine.
    /// `catchUp` lines replace the defaults (YAML, indented 6).
    public func configText(
        engine: DatabaseConfig.EngineKind, primary: Server, followerPort: Int, catchUp: String? = nil,
        images: [String: String]? = nil
    ) -> String {
        let images =
            images ?? [
                "pg15": Self.postgresOld, "pg15-patched": Self.postgresPatched,
                "redis7": Self.redisOld, "redis7-patched": Self.redisPatched,
            ]
        let databaseLines =
            switch engine {
            case .postgres:
                """
                    engine: postgres
                    image: pg15
                    primary: "host=127.0.0.1 port=\(primary.port) user=postgres dbname=postgres"
                    container: \(primary.container)
                    password: {env: DOCKER_LAB_PASSWORD}
                    replication:
                      user: replicator
                      password: {env: DOCKER_LAB_REPL_PASSWORD}
                """
            case .redis:
                """
                    engine: redis
                    image: redis7
                    primary: "127.0.0.1:\(primary.port)"
                    container: \(primary.container)
                    password: {env: DOCKER_LAB_PASSWORD}
                    retireAfter: 0s
                """
            }
        return """
            stateDirectory: \(root)/state
            provisioner:
              kind: docker
              socket: \(client.socketPath)
              labels: {org.changeover.test: "\(run)", org.changeover.test.lab: "\(id)"}
            images:
            \(images.sorted { $0.key < $1.key }.map { "  \($0.key): {docker: {image: \"\($0.value)\"}}" }.joined(separator: "\n"))
            databases:
              orders:
            \(databaseLines)
                follower: {port: \(followerPort)}
                router:
                  kind: hook
                  command: 'echo "$CHANGEOVER_ID $CHANGEOVER_HOST:$CHANGEOVER_PORT" >> \(root)/endpoint.log'
                catchUp:
            \(catchUp ?? "      maxLagBytes: 1MB\n      holdFor: 300ms\n      pollEvery: 50ms\n      timeout: 2m")

            """
    }

    /// The environment that holds the passwords the config refers to.
    public var environment: [String: String] {
        ["DOCKER_LAB_PASSWORD": superuserPassword, "DOCKER_LAB_REPL_PASSWORD": replicationPassword]
    }

    public var configPath: String { "\(root)/fleet.yaml" }
}
