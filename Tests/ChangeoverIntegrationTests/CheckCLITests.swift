import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `changeover check`: offline against the example config, and with `--connect` against a real
/// primary and one that is not there.
@Suite(.serialized) struct CheckCLITests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `examples/fleet.yaml` copied into a temporary directory with its paths made real here:
    /// the state directory and secret files in the directory, the patched images' bin directories
    /// the installed ones. Returns the config's path and the environment its `{env:}` secrets need.
    struct Example {
        let directory: String
        var config: String { "\(directory)/fleet.yaml" }
        let environment = [
            "PGBOUNCER_ADMIN_PASSWORD": "pgb-secret-value", "SESSIONS_PASSWORD": "sessions-secret-value",
        ]

        init(edit: (String) -> String = { $0 }) throws {
            directory = NSTemporaryDirectory() + "changeover-check-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: "\(directory)/secrets", withIntermediateDirectories: true)
            var text = try String(
                contentsOf: CheckCLITests.repository.appendingPathComponent("examples/fleet.yaml"), encoding: .utf8)
            for (from, to) in [
                ("/var/lib/changeover", "\(directory)/state"), ("/etc/changeover/secrets", "\(directory)/secrets"),
                ("/opt/pg15-patched/bin", Lab.defaultBinDirectory), ("/opt/redis7-patched/bin", Lab.redisBinDirectory),
            ] {
                #expect(text.contains(from), "examples/fleet.yaml no longer mentions \(from)")
                text = text.replacingOccurrences(of: from, with: to)
            }
            try edit(text).write(toFile: "\(directory)/fleet.yaml", atomically: true, encoding: .utf8)
            for name in ["orders.pw", "replicator.pw"] {
                let path = "\(directory)/secrets/\(name)"
                try "file-secret-value\n".write(toFile: path, atomically: true, encoding: .utf8)
                chmod(path, 0o600)
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: directory) }
    }

    @Test func theExampleConfigPassesOffline() async throws {
        let example = try Example()
        defer { example.remove() }
        let result = try await CLI.run(["check", "--config", example.config], environment: example.environment)
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        // Every database's next window opening, both secrets files, every image.
        for database in ["orders", "sessions"] {
            #expect(lines.contains { $0.hasPrefix("ok   windows   \(database): next opening ") }, "\(result.stdout)")
        }
        for image in ["pg15", "pg15-patched", "redis7", "redis7-patched"] {
            #expect(lines.contains { $0.hasPrefix("ok   image     \(image): ") }, "\(result.stdout)")
        }
        #expect(lines.filter { $0.hasPrefix("ok   secret    orders: ") }.count == 3, "\(result.stdout)")
        #expect(
            lines.contains {
                $0.hasPrefix("ok   secret    sessions: password from environment variable SESSIONS_PASSWORD")
            })
        // No secret's value is printed.
        for value in ["file-secret-value", "pgb-secret-value", "sessions-secret-value"] {
            #expect(!result.stdout.contains(value) && !result.stderr.contains(value))
        }

        let json = try await CLI.run(["check", "--config", example.config, "--json"], environment: example.environment)
        #expect(json.status == 0, "\(json.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["schemaVersion"] as? Int == 1)
        #expect(object["passed"] as? Bool == true)
        #expect((object["checks"] as? [[String: Any]])?.count == lines.count)
    }

    @Test func aTypoExitsTwoWithTheSuggestion() async throws {
        let example = try Example {
            $0.replacingOccurrences(of: "    windows: [\"Tuesdays", with: "    windwos: [\"Tuesdays")
        }
        defer { example.remove() }
        let result = try await CLI.run(["check", "--config", example.config], environment: example.environment)
        #expect(result.status == 2)
        #expect(result.stderr.contains("windwos: unknown key; did you mean windows?"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test func anUnreadableSecretAMissingBinaryAndAnUnsetVariableExitTwo() async throws {
        let example = try Example {
            $0.replacingOccurrences(
                of: "  redis7:\n    binDirectory: /usr/bin", with: "  redis7:\n    binDirectory: /nonexistent/bin")
        }
        defer { example.remove() }
        chmod("\(example.directory)/secrets/replicator.pw", 0o644)
        let result = try await CLI.run(
            ["check", "--config", example.config],
            environment: ["SESSIONS_PASSWORD": "", "PGBOUNCER_ADMIN_PASSWORD": "x"])
        #expect(result.status == 2, "\(result.stdout)")
        let lines = result.stdout.split(separator: "\n")
        #expect(
            lines.contains {
                $0.hasPrefix("FAIL secret    orders: replication password: the secret file ")
                    && $0.hasSuffix("make it 0600")
            }, "\(result.stdout)")
        #expect(
            lines.contains { $0.hasPrefix("FAIL image     redis7: bin directory /nonexistent/bin lacks redis-server") },
            "\(result.stdout)")
        #expect(
            lines.contains {
                $0.hasPrefix(
                    "FAIL secret    sessions: password: the secret in environment variable SESSIONS_PASSWORD is not set"
                )
            },
            "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix("ok   image     pg15: ") })
        #expect(
            result.stderr == "changeover: error: check failed: secret orders, secret sessions, image redis7\n",
            "\(result.stderr)")
        // --database narrows it to that database's findings: sessions' image and secret, not orders'.
        let one = try await CLI.run(
            ["check", "--config", example.config, "--database", "orders"], environment: example.environment)
        #expect(one.status == 2)
        #expect(!one.stdout.contains("sessions") && !one.stdout.contains("redis7"), "\(one.stdout)")
        let unknown = try await CLI.run(
            ["check", "--config", example.config, "--database", "nosuch"], environment: example.environment)
        #expect(unknown.status == 2)
        #expect(unknown.stderr.contains("unknown database \"nosuch\""), "\(unknown.stderr)")
    }

    /// The config path: `--config`, else `$CHANGEOVER_CONFIG`, else /etc/changeover/fleet.yaml; an
    /// error names the path it tried and where the path came from.
    @Test func theConfigPathComesFromTheEnvironmentOrTheDefault() async throws {
        let example = try Example()
        defer { example.remove() }
        let fromEnvironment = try await CLI.run(
            ["check"], environment: example.environment.merging(["CHANGEOVER_CONFIG": example.config]) { a, _ in a })
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        #expect(
            fromEnvironment.stdout.contains("ok   config    \(example.config): 2 database(s)"),
            "\(fromEnvironment.stdout)")

        let missing = "\(example.directory)/nothing-here.yaml"
        let named = try await CLI.run(["windows", "--database", "orders"], environment: ["CHANGEOVER_CONFIG": missing])
        #expect(named.status == 2)
        #expect(
            named.stderr == "changeover: error: cannot read config file \(missing) (from CHANGEOVER_CONFIG)\n",
            "\(named.stderr)")

        if !FileManager.default.fileExists(atPath: "/etc/changeover/fleet.yaml") {
            let fallback = try await CLI.run(["status"], environment: ["CHANGEOVER_CONFIG": ""])
            #expect(fallback.status == 2)
            #expect(
                fallback.stderr.contains(
                    "cannot read config file /etc/changeover/fleet.yaml (the default; give --config FILE or set CHANGEOVER_CONFIG)"
                ),
                "\(fallback.stderr)")
            let audit = try await CLI.run(["audit", "verify"], environment: ["CHANGEOVER_CONFIG": ""])
            #expect(audit.status == 2)
            #expect(audit.stderr.contains("/etc/changeover/fleet.yaml"), "\(audit.stderr)")
        }
    }

    /// Must-show: with --connect every database's preflight runs; a primary that is not there
    /// fails it with exit 3 naming that database, while the live one passes.
    @Test func connectFailsWithExitThreeNamingTheUnreachableDatabase() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let gone = FreePort.next()
            let text = scenario.configText(
                followerPort: scenario.followerPorts[0],
                extra: """
                      billing:
                        engine: postgres
                        image: pg15
                        primary: "host=127.0.0.1 port=\(gone) user=postgres dbname=postgres"
                        password: {env: LAB_PG_PASSWORD}
                        replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                        switchover: {connectTimeout: 2s}
                    """)
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let offline = try await CLI.run(
                ["check", "--config", scenario.configPath], environment: scenario.environment)
            #expect(offline.status == 0, "\(offline.stdout)\(offline.stderr)")
            #expect(!offline.stdout.contains("preflight"))

            let result = try await CLI.run(
                ["check", "--config", scenario.configPath, "--connect"], environment: scenario.environment)
            #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(
                lines.contains { $0.hasPrefix("ok   preflight orders: ") && $0.contains("primary reachable") },
                "\(result.stdout)")
            #expect(lines.contains { $0.hasPrefix("FAIL preflight billing: primary reachable: ") }, "\(result.stdout)")
            #expect(result.stderr.contains("preflight failed: preflight billing"), "\(result.stderr)")
            #expect(
                !result.stdout.contains(scenario.lab.superuserPassword)
                    && !result.stderr.contains(scenario.lab.superuserPassword))

            let json = try await CLI.run(
                ["check", "--config", scenario.configPath, "--connect", "--json"], environment: scenario.environment)
            #expect(json.status == 3)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            let preflight = (object["checks"] as? [[String: Any]] ?? []).filter {
                $0["scope"] as? String == "preflight"
            }
            #expect(preflight.map { $0["subject"] as? String } == ["billing", "orders"])
            #expect(preflight.map { $0["passed"] as? Bool } == [false, true])

            let one = try await CLI.run(
                ["check", "--config", scenario.configPath, "--connect", "--database", "orders"],
                environment: scenario.environment)
            #expect(one.status == 0, "\(one.stdout)\(one.stderr)")
            #expect(!one.stdout.contains("billing"))
        }
    }

    /// The same for Redis: the live primary's preflight passes, a port nothing listens on fails.
    @Test func connectChecksRedisPrimariesToo() async throws {
        try await withScenario(engine: .redis, changeovers: 1, startWriter: false) { scenario in
            let gone = FreePort.next()
            try scenario.configText(
                followerPort: scenario.followerPorts[0],
                extra: """
                      cache:
                        engine: redis
                        image: redis7
                        primary: "127.0.0.1:\(gone)"
                        password: {env: LAB_PG_PASSWORD}
                    """
            ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["check", "--config", scenario.configPath, "--connect"], environment: scenario.environment)
            #expect(result.status == 3, "\(result.stdout)\(result.stderr)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("ok   preflight orders: ") }, "\(result.stdout)")
            #expect(lines.contains { $0.hasPrefix("FAIL preflight cache: ") }, "\(result.stdout)")
            #expect(result.stderr.contains("preflight failed: preflight cache"), "\(result.stderr)")
        }
    }
}
