import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Bad input gets one clear line on stderr and a non-zero exit, and nothing is touched:
/// no slot on the primary, no follower directory, no new state for the database.
@Suite(.serialized) struct BadInputTests {
    enum Case: String, CaseIterable, CustomTestStringConvertible {
        case unknownDatabase, unreachablePrimary, wrongPassword, standbyGivenAsPrimary, missingImageBinDirectory,
            malformedYAML, unknownImageName
        var testDescription: String { rawValue }
    }

    @Test(arguments: Case.allCases)
    func badInputGetsOneLineAndTouchesNothing(_ badInput: Case) async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            var arguments = [
                "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now",
            ]
            var environment = scenario.environment
            var expectedStatus: Int32 = 3
            var expected: String
            var config = scenario.configText(followerPort: scenario.followerPorts[0])
            switch badInput {
            case .unknownDatabase:
                arguments[4] = "billing"
                expectedStatus = 2
                expected = "unknown database \"billing\" (the config defines: orders)"
            case .unreachablePrimary:
                let nobody = FreePort.next()
                config = config.replacingOccurrences(of: "port=\(scenario.primary.port)", with: "port=\(nobody)")
                expected = "primary reachable: connection failed at 127.0.0.1:\(nobody)"
            case .wrongPassword:
                environment["LAB_PG_PASSWORD"] = "not-the-password"
                expected = "password authentication failed for user \"postgres\""
            case .standbyGivenAsPrimary:
                let standby = try await scenario.lab.startStandby(of: scenario.primary)
                config = config.replacingOccurrences(of: "port=\(scenario.primary.port)", with: "port=\(standby.port)")
                expected = "127.0.0.1:\(standby.port) is a standby (in recovery), not a primary"
            case .missingImageBinDirectory:
                config = config.replacingOccurrences(
                    of: "binDirectory: \(scenario.lab.binDirectory)\n    environment",
                    with: "binDirectory: /nonexistent/pg15/bin\n    environment")
                expected =
                    "image pg15-patched: bin directory /nonexistent/pg15/bin lacks postgres, pg_basebackup, pg_controldata"
            case .malformedYAML:
                config = "databases:\n  orders: [image: pg15\n   primary: :\n"
                expectedStatus = 2
                expected = "malformed config \(scenario.configPath)"
            case .unknownImageName:
                arguments[6] = "pg99"
                expectedStatus = 2
                expected = "unknown image \"pg99\" (the config defines: pg15, pg15-patched, redis7, redis7-patched)"
            }
            try config.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)

            let result = try await CLI.run(arguments, environment: environment)
            #expect(result.status == expectedStatus, "\(badInput): exit \(result.status), stderr: \(result.stderr)")
            #expect(
                result.stderrLines.count == 1,
                "\(badInput): stderr was \(result.stderrLines.count) lines: \(result.stderr)")
            #expect(result.stderr.hasPrefix("changeover: error: "))
            #expect(result.stderr.contains(expected), "\(badInput): stderr: \(result.stderr)")
            #expect(
                !result.stderr.contains(scenario.lab.superuserPassword)
                    && !result.stdout.contains(scenario.lab.superuserPassword))

            // Nothing touched.
            let nodes = (try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []
            #expect(nodes.isEmpty, "\(badInput): provisioned \(nodes)")
            let connection = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                    .scalar == "0")
            #expect(
                try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
            #expect(try StateStore(directory: "\(scenario.lab.root)/state").database("orders") == nil)
        }
    }
}
