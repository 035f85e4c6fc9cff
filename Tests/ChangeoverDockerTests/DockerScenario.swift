import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

/// Where the tests find a Docker engine: `make docker-test` sets CHANGEOVER_DOCKER_HOST (and a
/// run name in CHANGEOVER_DOCKER_TEST_RUN, whose containers and volumes it sweeps afterwards).
enum DockerTestEnvironment {
    static let socket: String? = ProcessInfo.processInfo.environment["CHANGEOVER_DOCKER_HOST"].flatMap {
        $0.isEmpty ? nil : $0
    }
    static let run = ProcessInfo.processInfo.environment["CHANGEOVER_DOCKER_TEST_RUN"] ?? "swift-test-\(getpid())"
    static var available: Bool { socket != nil }
    static let skipped: Comment = "CHANGEOVER_DOCKER_HOST names no Docker engine (make docker-test sets it)"
}

/// A dockerized database taking writes: a primary container on the old-libc image, the
/// acknowledged-writes probe on it (it already knows the follower ports the database will move
/// to), and the lab that made them.
struct DockerScenario {
    let lab: DockerLab
    let engine: DatabaseConfig.EngineKind
    let primary: DockerLab.Server
    let followerPorts: [Int]
    let writer: any WriteProbe

    static func start(engine: DatabaseConfig.EngineKind, changeovers: Int, lab: DockerLab) async throws
        -> DockerScenario
    {
        let primary = engine == .postgres ? try await lab.startPostgresPrimary() : try await lab.startRedisPrimary()
        var ports: [Int] = []
        while ports.count < changeovers {
            let port = FreePort.next()
            if port != primary.port && !ports.contains(port) { ports.append(port) }
        }
        let all = [primary.port] + ports
        let writer: any WriteProbe
        switch engine {
        case .postgres:
            let connection = try await lab.connect(try #require(primary.conninfo))
            try await AckedWriter.prepare(on: connection)
            connection.close()
            writer = AckedWriter(
                conninfo: try ConnInfo(
                    "host=\(all.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(all.map(String.init).joined(separator: ",")) "
                        + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
                )
                .with("password", lab.superuserPassword))
        case .redis:
            writer = RedisAckedWriter(endpoints: all.map { lab.redisEndpoint(port: $0) })
        }
        await writer.start()
        try await writer.waitForAcknowledgements(50)
        return DockerScenario(lab: lab, engine: engine, primary: primary, followerPorts: ports, writer: writer)
    }

    var configPath: String { lab.configPath }

    func writeConfig(followerPort: Int, catchUp: String? = nil, images: [String: String]? = nil) throws {
        try lab.configText(
            engine: engine, primary: primary, followerPort: followerPort, catchUp: catchUp, images: images
        )
        .write(toFile: lab.configPath, atomically: true, encoding: .utf8)
    }

    /// Changes the database over to `image`, in process.
    func changeover(to image: String, followerPort: Int) async throws -> ChangeoverSummary {
        try writeConfig(followerPort: followerPort)
        let runner = ChangeoverRunner(config: try FleetConfig.load(path: lab.configPath), environment: lab.environment)
        return try await runner.run(database: "orders", image: image)
    }

    var auditPath: String { "\(lab.root)/state/audit.jsonl" }

    /// The acknowledged writes missing from the server on `port`.
    func missing(_ acknowledged: [Int64], port: Int) async throws -> [Int64] {
        switch engine {
        case .postgres:
            let connection = try await lab.connect(try #require(primary.conninfo).with("port", String(port)))
            defer { connection.close() }
            return try await AckedWriter.missing(acknowledged, on: connection)
        case .redis:
            return try await RedisAckedWriter.missing(acknowledged, on: lab.redisEndpoint(port: port))
        }
    }
}

/// Runs `body` on a fresh scenario. `body` returns the containers the test knowingly leaves (the
/// primaries, old and new); they are removed with their volumes, and then nothing else made for
/// the test may be left — no follower of an aborted changeover, no probe, no volume.
func withDockerScenario(
    _ engine: DatabaseConfig.EngineKind, changeovers: Int,
    _ body: (DockerScenario) async throws -> [String]
) async throws {
    let lab = try DockerLab(socket: try #require(DockerTestEnvironment.socket), run: DockerTestEnvironment.run)
    var failure: (any Error)?
    var kept: [String] = []
    var writer: (any WriteProbe)?
    do {
        let scenario = try await DockerScenario.start(engine: engine, changeovers: changeovers, lab: lab)
        writer = scenario.writer
        kept = try await body(scenario) + [scenario.primary.container]
    } catch {
        failure = error
    }
    if let writer { _ = await writer.stop() }
    await lab.remove(containers: kept)
    let left = await lab.sweep()
    if let failure { throw failure }
    #expect(
        left.containers.isEmpty && left.volumes.isEmpty,
        "left behind: containers \(left.containers), volumes \(left.volumes)")
}

/// The provision step's record in the audit log of a changeover.
func provisionRecord(_ path: String, changeover: String) throws -> AuditRecord {
    try #require(
        try AuditLog.read(path: path).first {
            $0.changeover == changeover && $0.step == "provision" && $0.outcome == "succeeded"
        })
}
