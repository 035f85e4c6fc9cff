import ChangeoverCore
import Foundation
import PostgresClient
import RedisClient

/// A whole changeover rehearsal on throwaway servers: a primary taking writes from the
/// acknowledged-writes probe, a fleet config for it, and follower ports chosen up front so the
/// probe already knows every server the database will move to (a libpq multi-host conninfo for
/// Postgres, a list of endpoints for Redis). Used by `changeover-demo`, the benchmark and the
/// integration tests.
///
/// With `networkHost`, the primary runs on a test host (`LabNetworkHost`) whose link a test can
/// cut; followers are made by the controller on 127.0.0.1 as always and stream from the
/// primary across the link.
public struct LabScenario: Sendable {
    public let lab: Lab
    public let engine: DatabaseConfig.EngineKind
    public let primary: Lab.Server
    /// The test host the primary runs on, when the scenario was started with `networkHost`.
    public let networkHost: LabNetworkHost?
    public let followerPorts: [Int]
    public let writer: any WriteProbe
    public let database: String
    public let configPath: String
    /// The environment that holds the passwords the config refers to.
    public let environment: [String: String]
    /// The two image names the database alternates between.
    public var images: [String] { engine == .postgres ? ["pg15", "pg15-patched"] : ["redis7", "redis7-patched"] }

    /// Starts a primary and the writer; `changeovers` follower ports are reserved (on
    /// 127.0.0.1). With `networkHost` the primary runs on a new test host.
    public static func start(
        engine: DatabaseConfig.EngineKind = .postgres, database: String = "orders", changeovers: Int,
        startWriter: Bool = true, networkHost: Bool = false
    ) async throws -> LabScenario {
        let lab = try Lab()
        do {
            let host = networkHost ? try await lab.makeNetworkHost() : nil
            let primary =
                engine == .postgres ? try await lab.startPrimary(on: host) : try await lab.startRedisPrimary(on: host)
            var ports: [Int] = []
            while ports.count < changeovers {
                let port = FreePort.next()
                if port != primary.port && !ports.contains(port) { ports.append(port) }
            }
            // The primary first, then the followers-to-be: where the database will be.
            let all = [(primary.host, primary.port)] + ports.map { ("127.0.0.1", $0) }
            let writer: any WriteProbe
            switch engine {
            case .postgres:
                let connection = try await lab.connect(primary.conninfo)
                try await AckedWriter.prepare(on: connection)
                connection.close()
                writer = AckedWriter(
                    conninfo: try ConnInfo(
                        "host=\(all.map(\.0).joined(separator: ",")) port=\(all.map { String($0.1) }.joined(separator: ",")) "
                            + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
                    )
                    .with("password", lab.superuserPassword))
            case .redis:
                writer = RedisAckedWriter(endpoints: all.map { lab.redisEndpoint(host: $0.0, port: $0.1) })
            }
            let scenario = LabScenario(
                lab: lab, engine: engine, primary: primary, networkHost: host, followerPorts: ports, writer: writer,
                database: database, configPath: "\(lab.root)/fleet.yaml",
                environment: ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword])
            try scenario.writeConfig(followerPort: ports.first)
            if startWriter {
                await writer.start()
                try await writer.waitForAcknowledgements(50)
            }
            return scenario
        } catch {
            await lab.shutdown()
            throw error
        }
    }

    /// The fleet config for this lab. `catchUp` lines replace the defaults (YAML, indented 6).
    public func configText(followerPort: Int?, catchUp: String? = nil, extra: String = "") -> String {
        let databaseLines =
            switch engine {
            case .postgres:
                """
                    engine: postgres
                    image: pg15
                    primary: "host=\(primary.host) port=\(primary.port) user=postgres dbname=postgres"
                    password: {env: LAB_PG_PASSWORD}
                    replication:
                      user: replicator
                      password: {env: LAB_REPL_PASSWORD}
                """
            case .redis:
                """
                    engine: redis
                    image: redis7
                    primary: "\(primary.host):\(primary.port)"
                    password: {env: LAB_PG_PASSWORD}
                    retireAfter: 0s
                """
            }
        return """
            stateDirectory: \(lab.root)/state
            provisioner:
              kind: local
              root: \(lab.root)/nodes
            images:
              pg15:
                binDirectory: \(lab.binDirectory)
              pg15-patched:
                binDirectory: \(lab.binDirectory)
                environment:
                  CHANGEOVER_IMAGE: pg15-patched
              redis7:
                binDirectory: \(Lab.redisBinDirectory)
              redis7-patched:
                binDirectory: \(Lab.redisBinDirectory)
                environment:
                  CHANGEOVER_IMAGE: redis7-patched
            databases:
              \(database):
            \(databaseLines)
            \(followerPort.map { "    follower: {port: \($0)}\n" } ?? "")\
                router:
                  kind: hook
                  command: 'echo "$CHANGEOVER_ID $CHANGEOVER_HOST:$CHANGEOVER_PORT" >> \(lab.root)/endpoint.log'
                catchUp:
            \(catchUp ?? "      maxLagBytes: 1MB\n      holdFor: 300ms\n      pollEvery: 50ms\n      timeout: 2m")
            \(extra)
            """
    }

    public func writeConfig(followerPort: Int?, catchUp: String? = nil) throws {
        try configText(followerPort: followerPort, catchUp: catchUp)
            .write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    public func config() throws -> FleetConfig { try FleetConfig.load(path: configPath, environment: environment) }

    /// Performs changeover number `index` (0-based) to the other image, in process.
    public func changeover(_ index: Int, events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }) async throws
        -> ChangeoverSummary
    {
        try await changeover(configText: configText(followerPort: followerPorts[index]), events: events)
    }

    /// Writes `configText` as the fleet config and changes the database over to its other image.
    /// `extra` adds secrets to the scenario's environment.
    public func changeover(
        configText: String, environment extra: [String: String] = [:],
        events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }
    ) async throws -> ChangeoverSummary {
        try configText.write(toFile: configPath, atomically: true, encoding: .utf8)
        let runner = ChangeoverRunner(
            config: try config(), environment: environment.merging(extra) { _, new in new },
            events: events)
        let current = try runner.store.database(database)?.image ?? images[0]
        let next = images.first { $0 != current }!
        return try await runner.run(database: database, image: next)
    }

    /// The current primary's port, as the state store knows it (the lab's primary before any changeover).
    public func currentPrimaryPort() throws -> Int {
        if let state = try StateStore(directory: "\(lab.root)/state").database(database) {
            return try DatabasePrimary.parse(state.primary, engine: engine).port
        }
        return primary.port
    }

    /// The current Postgres primary's conninfo, without a password.
    public func currentPrimary() throws -> ConnInfo {
        if let state = try StateStore(directory: "\(lab.root)/state").database(database) {
            return try ConnInfo(state.primary)
        }
        return primary.conninfo
    }

    /// The current primary's address (the lab's primary's before any changeover).
    public func currentPrimaryHost() throws -> String {
        if let state = try StateStore(directory: "\(lab.root)/state").database(database) {
            return try DatabasePrimary.parse(state.primary, engine: engine).host
        }
        return primary.host
    }

    /// Where the server on `port` listens: the lab's primary's address for its port, else
    /// 127.0.0.1 (followers are made there).
    public func host(ofPort port: Int) -> String {
        port == primary.port ? primary.host : "127.0.0.1"
    }

    /// The acknowledged writes missing from the server on `port` (the current primary by default).
    public func missing(_ acknowledged: [Int64], port: Int? = nil) async throws -> [Int64] {
        let (address, port) = try port.map { (host(ofPort: $0), $0) } ?? (currentPrimaryHost(), currentPrimaryPort())
        switch engine {
        case .postgres:
            let connection = try await lab.connect(primary.conninfo.with("host", address).with("port", String(port)))
            defer { connection.close() }
            return try await AckedWriter.missing(acknowledged, on: connection)
        case .redis:
            return try await RedisAckedWriter.missing(acknowledged, on: lab.redisEndpoint(host: address, port: port))
        }
    }
}
