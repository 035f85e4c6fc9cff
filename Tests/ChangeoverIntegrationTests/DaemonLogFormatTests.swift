import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `daemon --log-format json` writes nothing but JSON objects, one a line, whose changeover
/// lines carry the changeover, the database and the step, and never a password.
@Suite(.serialized) struct DaemonLogFormatTests {
    @Test func everyLineTheDaemonWritesIsAJSONObject() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let port = FreePort.next()
            try DaemonTests().config(
                scenario, ordersExtra: "    oneOffWindows: [\"\(iso(wholeSecond(in: -5))) for 10m\"]",
                extra: """
                    schedule:
                      - {database: orders, image: pg15-patched}
                    """, daemonPort: port
            ).write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let daemon = try await DaemonProcess.start(
                config: scenario.configPath, port: port, environment: scenario.environment,
                token: "t0ken-\(UUID().uuidString)", log: "\(scenario.lab.root)/daemon.log",
                arguments: ["--log-format", "json", "--verbose"])
            defer { daemon.kill9() }
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            #expect(
                try await eventually(.seconds(60)) { try store.changeovers().first?.machine.step == .done },
                "\(daemon.output)")
            #expect(try await daemon.terminate() == 0)
            let id = try #require(try store.changeovers().first?.id)

            let lines = daemon.output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            #expect(lines.count > 10, "\(daemon.output)")
            var parsed: [JSONLogHandler.Line] = []
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                #expect(object != nil, "not a JSON object: \(line)")
                #expect(
                    object?["time"] is String && object?["level"] is String && object?["message"] is String, "\(line)")
                if let decoded = try? JSONDecoder().decode(JSONLogHandler.Line.self, from: Data(line.utf8)) {
                    parsed.append(decoded)
                }
            }
            #expect(parsed.count == lines.count)
            #expect(
                parsed.allSatisfy {
                    (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse($0.time)) != nil
                })
            // The start line, each step of the changeover with its id, database and step, and the stop line.
            #expect(
                parsed.first?.message.hasPrefix("changeover daemon: pid \(daemon.pid)") == true,
                "\(parsed.first?.message ?? "")")
            #expect(parsed.last?.message == "changeover daemon: stopped")
            let ofChangeover = parsed.filter { $0.changeover == id }
            for step in ["preflight", "provision", "catch-up", "fence", "promote", "repoint"] {
                #expect(
                    ofChangeover.contains {
                        $0.step == step && $0.database == "orders" && $0.message == "step started"
                    },
                    "no line for step \(step): \(ofChangeover.map(\.message))")
            }
            #expect(ofChangeover.contains { $0.level == "debug" }, "--verbose logs the progress lines")
            for secret in [scenario.lab.superuserPassword, scenario.lab.replicationPassword] {
                #expect(!daemon.output.contains(secret))
            }
        }
    }

    /// `run --log-format json`: progress on stderr as JSON lines naming the changeover, the
    /// database and the step; the summary on stdout as before.
    @Test func runWritesItsProgressAsJSONLines() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let result = try await CLI.run(
                [
                    "run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched",
                    "--now", "--log-format", "json",
                ], environment: scenario.environment)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains(": completed"), "\(result.stdout)")
            let lines = result.stderr.split(separator: "\n")
            let parsed = lines.compactMap { try? JSONDecoder().decode(JSONLogHandler.Line.self, from: Data($0.utf8)) }
            #expect(parsed.count == lines.count && lines.count > 5, "\(result.stderr)")
            let id = try #require(parsed.first { $0.message == "changeover started" }?.changeover)
            #expect(parsed.allSatisfy { $0.changeover == id && $0.database == "orders" })
            #expect(parsed.contains { $0.step == "promote" && $0.message == "step done" })
            #expect(
                !result.stderr.contains(scenario.lab.superuserPassword)
                    && !result.stderr.contains(scenario.lab.replicationPassword))
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }
}
