import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The local provisioner's Redis node: who its server runs as and who can read its files
/// (redis.conf holds `masterauth` and the ACL users' hashes, dump.rdb the data).
@Suite(.serialized) struct RedisNodeTests {
    /// With `runAs` given, and with the default, the follower (the new primary) runs as that
    /// user and its node directory is the user's.
    @Test(arguments: ["redis", nil] as [String?])
    func redisFollowerRunsAsTheConfiguredUser(runAs: String?) async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            var text = scenario.configText(followerPort: scenario.followerPorts[0])
            if let runAs {
                text = text.replacingOccurrences(of: "  kind: local\n", with: "  kind: local\n  runAs: \(runAs)\n")
            }
            let user = runAs ?? "postgres"
            // A root the user cannot enter is no reason to refuse: the provisioner makes it 0755.
            try FileManager.default.createDirectory(
                atPath: "\(scenario.lab.root)/nodes", withIntermediateDirectories: false)
            chmod("\(scenario.lab.root)/nodes", 0o700)
            let summary = try await scenario.changeover(configText: text)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            let node = try #require(summary.facts["follower.node"])
            let pid = try #require(LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: node).pid)
            let expected = try #require(getpwnam(user)).pointee.pw_uid
            #expect(
                processUser(pid) == expected,
                "the new primary runs as uid \(processUser(pid).map(String.init) ?? "?"), not \(user)")
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
            #expect(
                summary.failure?.contains("provisioner: servers run as redis, who cannot reach \(hidden)") == true,
                "\(summary.failure ?? "")")
            #expect(!FileManager.default.fileExists(atPath: "\(hidden)/nodes"))
            #expect(!FreePort.accepts(scenario.followerPorts[0]), "a follower was started")
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// The new primary's node directory is 0700 and its files 0600 after the changeover's
    /// CONFIG REWRITE, after a SAVE, and again after a restart from the rewritten config and
    /// another rewrite and save; the promotion survives the restart.
    @Test func newPrimaryFilesStayPrivateAfterRewriteSaveAndRestart() async throws {
        try await withScenario(engine: .redis, changeovers: 1) { scenario in
            let summary = try await scenario.changeover(0)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            _ = await scenario.writer.stop()
            let node = try #require(summary.facts["follower.node"])
            let port = scenario.followerPorts[0]
            expectPrivate(node, "after the changeover")
            #expect(FileManager.default.fileExists(atPath: "\(node)/dump.rdb"), "no dump.rdb after the initial sync")
            try await onServer(scenario, port) { _ = try await $0.command(["SAVE"], timeout: .seconds(10)) }
            expectPrivate(node, "after SAVE")

            let server = LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: node)
            try await server.stop(timeout: .seconds(10))
            let provisioner = LocalProvisioner(root: "\(scenario.lab.root)/nodes", runAs: "postgres")
            let image = try scenario.config().image("redis7-patched")
            let restarted = try await provisioner.restartRedisFollower(
                changeover: summary.id, image: image, timeout: .seconds(30))
            #expect(
                processUser(restarted) == getpwnam("postgres")?.pointee.pw_uid,
                "the restarted server does not run as postgres")
            try await onServer(scenario, port) { connection in
                guard case .master = try RedisRole(try await connection.command(["ROLE"], timeout: .seconds(5))) else {
                    Issue.record("the restarted new primary is not a master")
                    return
                }
                _ = try await connection.command(["SET", "after-restart", "1"], timeout: .seconds(5))
                _ = try await connection.command(["CONFIG", "REWRITE"], timeout: .seconds(5))
                _ = try await connection.command(["SAVE"], timeout: .seconds(10))
            }
            expectPrivate(node, "after a restart, CONFIG REWRITE and SAVE")
        }
    }

    /// Without `runAs` (or as a controller that is not root) the server runs as the
    /// controller's user, and its files are private all the same.
    @Test func followerWithoutRunAsRunsAsTheController() async throws {
        let lab = try Lab()
        do {
            let primary = try await lab.startRedisPrimary()
            let provisioner = LocalProvisioner(root: "\(lab.root)/nodes", runAs: nil)
            let image = FleetConfig.Image(name: "redis7", binDirectory: Lab.redisBinDirectory, environment: [:])
            let follower = try await provisioner.createRedisFollower(
                changeover: "no-user", image: image, port: nil,
                settings: [
                    ("replicaof", "127.0.0.1 \(primary.port)"),
                    ("masterauth", LocalRedis.quote(lab.superuserPassword)),
                    ("requirepass", LocalRedis.quote(lab.superuserPassword)),
                ],
                acl: nil, primaryConfigFile: nil, primaryBind: nil, timeout: .seconds(30))
            let pid = try #require(follower.facts["follower.pid"].flatMap { pid_t($0) })
            #expect(processUser(pid) == getuid())
            let connection = try await RedisConnection.connect(
                lab.redisEndpoint(port: follower.port), timeout: .seconds(5))
            _ = try await connection.command(["CONFIG", "REWRITE"], timeout: .seconds(5))
            connection.close()
            expectPrivate(provisioner.nodeDirectory(for: "no-user"), "without runAs")
            try await provisioner.removeRedisFollower(
                changeover: "no-user", facts: follower.facts, timeout: .seconds(10))
        } catch {
            await lab.shutdown()
            throw error
        }
        await lab.shutdown()
        try expectNothingLeft(lab)
    }
}

/// The node directory is 0700 and every file in it 0600 or stricter.
private func expectPrivate(_ node: String, _ when: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let mode = fileStatus(node).map { $0.st_mode & 0o777 }
    #expect(
        mode == 0o700, "\(when): \(node) is mode \(mode.map { String($0, radix: 8) } ?? "?")",
        sourceLocation: sourceLocation)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: node)) ?? []
    #expect(names.contains("redis.conf"), sourceLocation: sourceLocation)
    for name in names {
        guard let status = fileStatus("\(node)/\(name)") else { continue }
        let mode = status.st_mode & 0o777
        #expect(mode & 0o077 == 0, "\(when): \(name) is mode \(String(mode, radix: 8))", sourceLocation: sourceLocation)
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

/// `body` on a connection to the lab's Redis server on `port`.
private func onServer(
    _ scenario: LabScenario, _ port: Int,
    _ body: (RedisConnection) async throws -> Void
) async throws {
    let connection = try await RedisConnection.connect(scenario.lab.redisEndpoint(port: port), timeout: .seconds(5))
    defer { connection.close() }
    try await body(connection)
}
