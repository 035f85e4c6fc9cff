import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// No password reaches stdout, stderr, the audit log, the state store, the hook or a log file,
/// across a whole changeover and every read-only verb.
@Suite(.serialized) struct SecretsTests {
    @Test func noPasswordAppearsAnywhere() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let config = ["--config", scenario.configPath]
            var outputs: [String] = []
            let plan = try await CLI.run(
                ["plan"] + config + ["--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(plan.status == 0, "\(plan.stderr)")
            let run = try await CLI.run(
                ["run"] + config + ["--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stderr)")
            let json = try await CLI.run(["status", "--json"] + config, environment: scenario.environment)
            let show = try await CLI.run(["audit", "show", "--json"] + config)
            let verify = try await CLI.run(["audit", "verify"] + config)
            #expect(verify.status == 0)
            for result in [plan, run, json, show, verify] { outputs += [result.stdout, result.stderr] }
            #expect(run.stdout.contains("changeover") && run.stdout.contains(": completed"))

            // Every file the controller wrote, the hook's output and the servers' logs.
            var files: [String] = []
            if let walk = FileManager.default.enumerator(atPath: scenario.lab.root) {
                while let item = walk.nextObject() as? String {
                    let path = "\(scenario.lab.root)/\(item)"
                    if item.hasPrefix("state/") || item.hasSuffix(".log") || item == "endpoint.log" {
                        var isDirectory: ObjCBool = false
                        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
                            !isDirectory.boolValue
                        {
                            files.append(path)
                        }
                    }
                }
            }
            #expect(files.contains { $0.hasSuffix("audit.jsonl") })
            #expect(files.contains { $0.hasSuffix("endpoint.log") })
            for path in files { outputs.append((try? String(contentsOfFile: path, encoding: .utf8)) ?? "") }
            for secret in [scenario.lab.superuserPassword, scenario.lab.replicationPassword] {
                #expect(!outputs.contains { $0.contains(secret) }, "a password leaked")
                for path in files {
                    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
                    #expect(!text.contains(secret), "password found in \(path)")
                }
            }
        }
    }
}
