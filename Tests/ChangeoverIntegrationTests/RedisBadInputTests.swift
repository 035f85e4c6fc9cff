import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// Bad input for a Redis database gets one clear line and a non-zero exit, and nothing is
/// touched: no follower, the primary still a master with no replica and not paused.
@Suite(.serialized) struct RedisBadInputTests {
    enum Case: String, CaseIterable, CustomTestStringConvertible {
        case wrongPassword, replicaGivenAsPrimary, unreachableHost, olderThan62
        var testDescription: String { rawValue }
    }

    @Test(arguments: Case.allCases)
    func redisBadInputGetsOneLineAndTouchesNothing(_ badInput: Case) async throws {
        try await withScenario(engine: .redis, changeovers: 1, startWriter: false) { scenario in
            var environment = scenario.environment
            var config = scenario.configText(followerPort: scenario.followerPorts[0])
            let primaryAddress = "primary: \"127.0.0.1:\(scenario.primary.port)\""
            let expected: String
            var fake: FakeOldRedisServer?
            defer { fake?.stop() }
            switch badInput {
            case .wrongPassword:
                environment["LAB_PG_PASSWORD"] = "not-the-password"
                expected = "authentication failed at 127.0.0.1:\(scenario.primary.port)"
            case .replicaGivenAsPrimary:
                let replica = try await scenario.lab.startRedisReplica(of: scenario.primary)
                config = config.replacingOccurrences(of: primaryAddress, with: "primary: \"127.0.0.1:\(replica.port)\"")
                expected = "127.0.0.1:\(replica.port) is a replica of 127.0.0.1:\(scenario.primary.port), not a primary"
            case .unreachableHost:
                let nobody = FreePort.next()
                config = config.replacingOccurrences(of: primaryAddress, with: "primary: \"127.0.0.1:\(nobody)\"")
                expected = "primary reachable: connection failed at 127.0.0.1:\(nobody)"
            case .olderThan62:
                fake = try FakeOldRedisServer()
                config = config.replacingOccurrences(of: primaryAddress, with: "primary: \"127.0.0.1:\(fake!.port)\"")
                expected = "the primary runs Redis 6.0.16, older than 6.2"
            }
            try config.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched", "--now"],
                environment: environment)
            #expect(result.status == 3, "\(badInput): exit \(result.status), stderr: \(result.stderr)")
            #expect(result.stderrLines.count == 1, "\(badInput): \(result.stderr)")
            #expect(result.stderr.hasPrefix("changeover: error: preflight failed: "))
            #expect(result.stderr.contains(expected), "\(badInput): \(result.stderr)")
            #expect(
                !result.stderr.contains(scenario.lab.superuserPassword)
                    && !result.stdout.contains(scenario.lab.superuserPassword))

            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty, "\(badInput): provisioned \(nodes)")
            let connection = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(port: scenario.primary.port), timeout: .seconds(5))
            defer { connection.close() }
            _ = try await connection.command(["SET", "still-writable", "yes"], timeout: .seconds(2))
            let info = RedisInfo(
                parsing: try await connection.command(["INFO", "replication"], timeout: .seconds(5)).string ?? "")
            #expect(info["role"] == "master")
            let expectedReplicas = badInput == .replicaGivenAsPrimary ? 1 : 0
            #expect(info.replicas.count == expectedReplicas)
        }
    }
}
