import ChangeoverCore
import Foundation
import PostgresClient

/// A whole changeover rehearsal on throwaway servers: a primary taking writes from the
/// acknowledged-writes probe, a fleet config for it, and follower ports chosen up front so the
/// probe's multi-host conninfo already lists every server the database will move to.
/// Used by `changeover demo`, the benchmark and the integration tests.
public struct LabScenario: Sendable {
    public let lab: Lab
    public let primary: Lab.Server
    public let followerPorts: [Int]
    public let writer: AckedWriter
    public let database: String
    public let configPath: String
    /// The environment that holds the passwords the config refers to.
    public let environment: [String: String]
    public static let images = ["pg15", "pg15-patched"]

    /// Starts a primary and the writer; `changeovers` follower ports are reserved.
    public static func start(database: String = "orders", changeovers: Int, startWriter: Bool = true) async throws -> LabScenario {
        let lab = try Lab()
        do {
            let primary = try await lab.startPrimary()
            var ports: [Int] = []
            while ports.count < changeovers {
                let port = FreePort.next()
                if port != primary.port && !ports.contains(port) { ports.append(port) }
            }
            let connection = try await lab.connect(primary.conninfo)
            try await AckedWriter.prepare(on: connection)
            connection.close()
            let all = [primary.port] + ports
            let writerInfo = try ConnInfo(
                "host=\(all.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(all.map(String.init).joined(separator: ",")) "
                    + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2")
                .with("password", lab.superuserPassword)
            let writer = AckedWriter(conninfo: writerInfo)
            let scenario = LabScenario(
                lab: lab, primary: primary, followerPorts: ports, writer: writer, database: database,
                configPath: "\(lab.root)/fleet.yaml",
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
        """
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
        databases:
          \(database):
            engine: postgres
            image: pg15
            primary: "host=127.0.0.1 port=\(primary.port) user=postgres dbname=postgres"
            password: {env: LAB_PG_PASSWORD}
            replication:
              user: replicator
              password: {env: LAB_REPL_PASSWORD}
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

    public func config() throws -> FleetConfig { try FleetConfig.load(path: configPath) }

    /// Performs changeover number `index` (0-based) to the other image, in process.
    public func changeover(_ index: Int, events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }) async throws -> ChangeoverSummary {
        try writeConfig(followerPort: followerPorts[index])
        let runner = ChangeoverRunner(config: try config(), environment: environment, events: events)
        let current = try runner.store.database(database)?.image ?? "pg15"
        let next = Self.images.first { $0 != current }!
        return try await runner.run(database: database, image: next)
    }

    /// The current primary, as the state store knows it (the lab's primary before any changeover).
    public func currentPrimary() throws -> ConnInfo {
        if let state = try StateStore(directory: "\(lab.root)/state").database(database) {
            return try ConnInfo(state.primary)
        }
        return primary.conninfo
    }
}
