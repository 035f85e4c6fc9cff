#if canImport(Glibc)
import Glibc
#endif
import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// The local provisioner's Redis node: who its server runs as.
@Suite(.serialized) struct RedisNodeTests {
    /// With `runAs` given, and with the default, the follower (the new primary) runs as that
    /// user and its node directory is the user's.
    @Test(arguments: ["redis", nil] as [String?])
    func redisFollowerRunsAsTheConfiguredUser(runAs: String?) async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            var text = scenario.configText(followerPort: scenario.followerPorts[0])
            if let runAs { text = text.replacingOccurrences(of: "  kind: local\n", with: "  kind: local\n  runAs: \(runAs)\n") }
            let user = runAs ?? "postgres"
            // A root the user cannot enter is no reason to refuse: the provisioner makes it 0755.
            try FileManager.default.createDirectory(atPath: "\(scenario.lab.root)/nodes", withIntermediateDirectories: false)
            chmod("\(scenario.lab.root)/nodes", 0o700)
            let summary = try await scenario.changeover(configText: text)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            let node = try #require(summary.facts["follower.node"])
            let pid = try #require(LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: node).pid)
            let expected = try #require(getpwnam(user)).pointee.pw_uid
            #expect(processUser(pid) == expected, "the new primary runs as uid \(processUser(pid).map(String.init) ?? "?"), not \(user)")
            #expect(fileStatus(node)?.st_uid == expected, "the node directory is not \(user)'s")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// A `runAs` user that cannot reach the node directory is refused by the preflight, before
    /// anything is made.
    @Test func preflightRefusesARunAsUserThatCannotReachTheNodeDirectory() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            let hidden = "\(scenario.lab.root)/hidden"
            try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: false)
            chmod(hidden, 0o700)
            let text = scenario.configText(followerPort: scenario.followerPorts[0])
                .replacingOccurrences(of: "  kind: local\n", with: "  kind: local\n  runAs: redis\n")
                .replacingOccurrences(of: "root: \(scenario.lab.root)/nodes", with: "root: \(hidden)/nodes")
            let summary = try await scenario.changeover(configText: text)
            #expect(summary.outcome == .aborted)
            #expect(summary.failedStep == .preflight)
            #expect(summary.failure?.contains("provisioner: servers run as redis, who cannot reach \(hidden)") == true,
                    "\(summary.failure ?? "")")
            #expect(!FileManager.default.fileExists(atPath: "\(hidden)/nodes"))
            #expect(!FreePort.accepts(scenario.followerPorts[0]), "a follower was started")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }
}

private func fileStatus(_ path: String) -> stat? {
    var status = stat()
    return stat(path, &status) == 0 ? status : nil
}

/// The real user ID of a running process.
private func processUser(_ pid: pid_t) -> uid_t? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") })
    else { return nil }
    return line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap { uid_t($0) }
}
