import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// Redis laid out the way Debian's `redis-server` package lays it out: a `redis-server@NAME`
/// instance with its file `/etc/redis/redis-NAME.conf` (a copy of the package's, made as the
/// template unit's comments say), its data in /var/lib/redis, its log in /var/log/redis, run as
/// user `redis`, enabled with `systemctl`. PID 1 is not systemd here: servers are started the
/// way the unit's ExecStart does, directly; the units are enabled and disabled for real.
@Suite(.serialized) struct PackagedRedisTests {
    /// Under a writer, `run --now` changes over a Debian instance, 0 lost: the new primary is an
    /// instance of its own with its own file in /etc/redis, enabled, while the old one is
    /// disabled and its file says it is a replica of the new one; stopped and started again from
    /// its file, the new primary comes back as primary with every acknowledged write; a second
    /// changeover from there works. The test removes every instance it made, whatever happened.
    @Test func aDebianRedisInstanceChangesOverUnderAWriter() async throws {
        let lab = try Lab()
        let primary = PackagedRedis(name: "chg" + UUID().uuidString.prefix(8).lowercased(), port: FreePort.next())
        var writer: RedisAckedWriter?
        do {
            try await primary.create(password: lab.superuserPassword)
            let followers = [FreePort.next(), FreePort.next()]
            let probe = RedisAckedWriter(endpoints: ([primary.port] + followers).map { lab.redisEndpoint(port: $0) })
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))

            let config = "\(lab.root)/fleet.yaml"
            let store = StateStore(directory: "\(lab.root)/state")
            var current = primary
            for (index, image) in ["redis7-patched", "redis7"].enumerated() {
                try Self.config(
                    lab: lab, port: current.port, followerPort: followers[index],
                    image: index == 0 ? "redis7" : "redis7-patched"
                )
                .write(toFile: config, atomically: true, encoding: .utf8)
                if index == 0 {
                    let plan = try await CLI.run(
                        ["plan", "--config", config, "--database", "cache", "--image", image],
                        environment: ["LAB_PG_PASSWORD": lab.superuserPassword])
                    #expect(plan.stdout.contains("Debian instance \(primary.instance.unit)"), "\(plan.stdout)")
                }
                let run = try await CLI.run(
                    ["run", "--config", config, "--database", "cache", "--image", image, "--now"],
                    environment: ["LAB_PG_PASSWORD": lab.superuserPassword])
                #expect(run.status == 0, "changeover \(index + 1): \(run.stdout)\(run.stderr)")
                let records = try store.changeovers()
                let record = try #require(
                    records.first { $0.facts["new.port"] == String(followers[index]) }, "\(records.map(\.facts))")
                let unit = try #require(record.facts["follower.instance"], "\(record.facts)")
                let made = try #require(
                    DebianRedis.of(
                        configFile:
                            "/etc/redis/redis-\(unit.dropFirst("redis-server@".count).dropLast(".service".count)).conf")
                )
                let new = PackagedRedis(name: made.name ?? "", port: followers[index])
                #expect(made.name?.hasPrefix(primary.name + "-") == true, "\(unit)")
                #expect(FileManager.default.fileExists(atPath: made.configFile), "\(made.configFile)")
                #expect(Self.owner(made.configFile) == "redis", "\(made.configFile)")
                #expect(await SystemdService.state(made.unit) == "enabled")
                #expect(
                    await SystemdService.state(current.instance.unit) == "disabled",
                    "the old instance \(current.instance.unit) still starts at boot")
                // The old primary's own file makes it a replica of the new one, should anything start it.
                let oldFile = try String(contentsOfFile: current.instance.configFile, encoding: .utf8)
                #expect(oldFile.contains("replicaof 127.0.0.1 \(followers[index])"), "\(oldFile.suffix(400))")
                #expect(!current.isRunning, "the old primary still runs (retireAfter: 0s)")

                if index == 0 {
                    // Stopped, and started again from its file as its unit would: a primary, with its data.
                    try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
                    try await new.stop()
                    try await new.start()
                    let connection = try await RedisConnection.connect(
                        lab.redisEndpoint(port: new.port), timeout: .seconds(5))
                    let role = try RedisRole(try await connection.command(["ROLE"], timeout: .seconds(5)))
                    connection.close()
                    guard case .master = role else {
                        Issue.record("restarted, \(made.unit) is \(role), not a primary")
                        break
                    }
                }
                try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
                current = new
            }
            let report = await probe.stop()
            writer = nil
            let missing = try await RedisAckedWriter.missing(
                report.acknowledged, on: lab.redisEndpoint(port: followers[1]))
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
            #expect(AuditLog.verify(path: "\(lab.root)/state/audit.jsonl").isIntact)
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
        await primary.drop()
    }

    static func owner(_ path: String) -> String? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.ownerAccountName] as? String
    }

    static func config(lab: Lab, port: Int, followerPort: Int, image: String) -> String {
        """
        stateDirectory: \(lab.root)/state
        provisioner: {kind: local, root: \(lab.root)/nodes}
        images:
          redis7: {binDirectory: \(Lab.redisBinDirectory)}
          redis7-patched: {binDirectory: \(Lab.redisBinDirectory)}
        databases:
          cache:
            engine: redis
            image: \(image)
            primary: "127.0.0.1:\(port)"
            password: {env: LAB_PG_PASSWORD}
            retireAfter: 0s
            follower: {port: \(followerPort)}
            catchUp: {maxLagBytes: 1MB, holdFor: 300ms, pollEvery: 50ms, timeout: 2m}
        """
    }
}

/// A `redis-server@NAME` instance of this test run, made from the package's own file as the
/// template unit's comments say (its own port, pid file, log and dump file), enabled, and
/// started as the unit's ExecStart starts it.
struct PackagedRedis {
    let name: String
    let port: Int
    /// The test host it runs on (listening on its address, inside its namespace), if any.
    var host: LabNetworkHost? = nil

    var instance: DebianRedis { DebianRedis(name: name) }
    var node: String { "/tmp/changeover-\(name)" }
    var server: LocalRedis {
        guard host != nil else {
            return instance.server(binDirectory: Lab.redisBinDirectory, node: node, environment: [:])
        }
        // A launcher that enters the host's namespace as root, then becomes redis.
        var server = instance.server(binDirectory: "\(node)/netns-bin", node: node, environment: [:])
        server.runAs = nil
        return server
    }
    var isRunning: Bool { server.isRunning }

    func create(password: String) async throws {
        let base = try String(contentsOfFile: "\(DebianRedis.configRoot)/redis.conf", encoding: .utf8)
        let own = """

            port \(port)
            \(host.map { "bind \($0.address)" } ?? "")
            daemonize no
            pidfile \(instance.pidFile)
            logfile \(instance.logFile)
            dbfilename \(instance.dumpFile)
            requirepass "\(password)"
            masterauth "\(password)"
            repl-diskless-sync-delay 0
            repl-backlog-size 64mb

            """
        if let host {
            try LocalFiles.makeDirectory("\(node)/netns-bin", owner: nil, mode: 0o755)
            let script = host.launcherScript(
                Subprocess.runAsPrefix(DebianRedis.user) + ["\(Lab.redisBinDirectory)/redis-server"])
            guard
                FileManager.default.createFile(
                    atPath: "\(node)/netns-bin/redis-server", contents: Data(script.utf8),
                    attributes: [.posixPermissions: 0o755])
            else { throw LabError("cannot write the launcher") }
        }
        try instance.server(binDirectory: "", node: node, environment: [:]).writePrivateFile(
            instance.configFile, base + own)
        try await SystemdService.run("enable", instance.unit)
        try await start()
    }

    func start() async throws {
        try LocalFiles.makeDirectory(instance.runtimeDirectory, owner: DebianRedis.user, mode: 0o755)
        _ = try await server.restart(timeout: .seconds(30))
    }

    func stop() async throws {
        try await server.stop(timeout: .seconds(30))
    }

    /// Stops and removes this instance and every instance a changeover made of it (named after it).
    func drop() async {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: DebianRedis.configRoot)) ?? []
        let names = files.compactMap { DebianRedis.of(configFile: "\(DebianRedis.configRoot)/\($0)")?.name }
            .filter { $0 == name || $0.hasPrefix(name + "-") }
        for name in Set(names + [name]) {
            let redis = PackagedRedis(name: name, port: 0)
            try? await redis.server.stop(timeout: .seconds(30), signal: SIGKILL)
            try? await SystemdService.run("disable", redis.instance.unit)
            for path in [
                redis.instance.configFile, redis.instance.aclFile,
                "\(DebianRedis.dataDirectory)/\(redis.instance.dumpFile)",
                redis.instance.logFile, redis.instance.runtimeDirectory, "/tmp/changeover-\(name)",
            ] {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }
}
