import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

/// `provisioner.service: systemd`: each new primary gets a unit of its own in
/// /etc/systemd/system, which `systemd-analyze verify` passes and `systemctl` enables, and the
/// unit of the primary it replaced is disabled. PID 1 is not systemd here, so the servers are
/// started directly, and the test starts a stopped new primary from its unit's ExecStart, as
/// its User, the way systemd would at boot.
@Suite(.serialized) struct SystemdUnitTests {
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func eachNewPrimaryGetsAUnitOfItsOwnAndTheOneBeforeIsDisabled(engine: DatabaseConfig.EngineKind) async throws {
        var written: [String] = []
        var failure: (any Error)?
        do {
            try await withScenario(engine: engine, changeovers: 2) { scenario in
                for index in 0..<2 {
                    let nodes = "  root: \(scenario.lab.root)/nodes\n"
                    let text = scenario.configText(followerPort: scenario.followerPorts[index])
                        .replacingOccurrences(of: nodes, with: nodes + "  service: systemd\n")
                    try #require(text.contains("service: systemd"))
                    let summary = try await scenario.changeover(configText: text)
                    try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                    let unit = try #require(summary.facts["follower.unit"], "\(summary.facts)")
                    written.append(unit)
                    let path = "\(SystemdUnit.directory)/\(unit)"
                    #expect(await SystemdUnit.verify(path) == nil)
                    #expect(await SystemdService.state(unit) == "enabled")
                    if index == 1 {
                        #expect(
                            await SystemdService.state(written[0]) == "disabled",
                            "the unit of the primary replaced still starts at boot")
                        #expect(summary.facts["old.service"]?.contains(written[0]) == true, "\(summary.facts)")
                        continue
                    }
                    // Stopped, then started as its unit starts it: a primary, with every acknowledged write.
                    let port = scenario.followerPorts[0]
                    try await scenario.writer.waitForAcknowledgements(50)
                    try await Self.stop(summary.facts, engine: engine, lab: scenario.lab, port: port)
                    let unitText = try String(contentsOfFile: path, encoding: .utf8)
                    try await Self.startAsUnit(unitText, log: "\(scenario.lab.root)/unit-start.log", port: port)
                    let acknowledged = await scenario.writer.acknowledgedSoFar()
                    #expect(
                        try await Self.isPrimary(engine: engine, lab: scenario.lab, port: port),
                        "restarted from \(unit), not a primary")
                    #expect(
                        try await scenario.missing(acknowledged, port: port).isEmpty,
                        "writes lost over the restart from \(unit)")
                }
                try await scenario.writer.waitForAcknowledgements(50)
                let report = await scenario.writer.stop()
                #expect(try await scenario.missing(report.acknowledged).isEmpty)
            }
        } catch {
            failure = error
        }
        for unit in written {
            try? await SystemdService.run("disable", unit)
            try? FileManager.default.removeItem(atPath: "\(SystemdUnit.directory)/\(unit)")
        }
        if let failure { throw failure }
    }

    /// Stops the new primary as systemd would (SIGINT: Postgres's fast shutdown; SIGTERM: Redis
    /// saves first, once told to keep its data).
    static func stop(_ facts: Facts, engine: DatabaseConfig.EngineKind, lab: Lab, port: Int) async throws {
        switch engine {
        case .postgres:
            let data = try #require(facts["follower.dataDirectory"])
            try await LocalPostgres(binDirectory: lab.binDirectory, dataDirectory: data, runAs: "postgres").stop(
                timeout: .seconds(60), signal: SIGINT)
        case .redis:
            let connection = try await RedisConnection.connect(lab.redisEndpoint(port: port), timeout: .seconds(5))
            _ = try await connection.command(["CONFIG", "SET", "save", "3600 1"], timeout: .seconds(5))
            connection.close()
            let node = try #require(facts["follower.node"])
            try await LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: node).stop(timeout: .seconds(60))
        }
    }

    /// Runs the unit's ExecStart as its User and waits for the port.
    static func startAsUnit(_ text: String, log: String, port: Int) async throws {
        let lines = text.split(separator: "\n").map(String.init)
        let user = lines.first { $0.hasPrefix("User=") }.map { String($0.dropFirst("User=".count)) }
        let exec = try #require(lines.first { $0.hasPrefix("ExecStart=") }).dropFirst("ExecStart=".count)
        let argv = try #require(try Self.words(String(exec)))
        _ = try Subprocess.spawn(Subprocess.runAsPrefix(user) + argv, outputPath: log, newSession: true)
        let deadline = ContinuousClock.now + .seconds(60)
        while !FreePort.accepts(port) {
            guard ContinuousClock.now < deadline else {
                throw LabError("nothing listens on \(port) after starting from the unit")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// ExecStart's arguments: each double-quoted, as `SystemdUnit` writes them.
    static func words(_ line: String) throws -> [String] {
        var words: [String] = []
        var word = ""
        var quoted = false
        var escaped = false
        for character in line {
            if escaped {
                word.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\" where quoted: escaped = true
            case "\"":
                if quoted {
                    words.append(word)
                    word = ""
                }
                quoted.toggle()
            case " " where !quoted: continue
            default: word.append(character)
            }
        }
        return words.map { $0.replacingOccurrences(of: "%%", with: "%").replacingOccurrences(of: "$$", with: "$") }
    }

    static func isPrimary(engine: DatabaseConfig.EngineKind, lab: Lab, port: Int) async throws -> Bool {
        switch engine {
        case .postgres:
            // The port opens before recovery ends ("the database system is starting up").
            let conninfo = try ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
            let deadline = ContinuousClock.now + .seconds(60)
            var connection = try? await lab.connect(conninfo)
            while connection == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                connection = try? await lab.connect(conninfo)
            }
            guard let connection else { return false }
            defer { connection.close() }
            return try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar
                == "false"
        case .redis:
            let connection = try await RedisConnection.connect(lab.redisEndpoint(port: port), timeout: .seconds(5))
            defer { connection.close() }
            if case .master = try RedisRole(try await connection.command(["ROLE"], timeout: .seconds(5))) {
                return true
            }
            return false
        }
    }
}
