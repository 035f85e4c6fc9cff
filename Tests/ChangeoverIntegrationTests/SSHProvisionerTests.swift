import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Synchronization
import Testing

/// The ssh provisioner against test hosts: network namespaces with an sshd each. The primary
/// runs on host a, the controller outside both, and the follower is made on host b over ssh.
@Suite(.serialized) struct SSHProvisionerTests {
    /// Under a writer, a changeover puts the new primary on host b, 0 lost; the old Postgres
    /// primary on a is stopped, the old Redis primary a replica of the new one. `plan` names
    /// the follower's host and why. While it runs, no process on this machine (both hosts'
    /// processes are among them) has a password on its command line.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aFollowerIsMadeOnAnotherHostOverSSH(engine: DatabaseConfig.EngineKind) async throws {
        let lab = try Lab()
        var writer: (any WriteProbe)?
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            let followerPort = FreePort.next()
            let primary =
                engine == .postgres
                ? try await lab.startPrimary(on: a.network) : try await lab.startRedisPrimary(on: a.network)
            let probe = try await lab.writer(engine, over: [(a.address, primary.port), (b.address, followerPort)])
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))

            let config = "\(lab.root)/fleet.yaml"
            try Self.config(
                lab: lab, hosts: [a, b], engine: engine, primaryPort: primary.port, followerPort: followerPort
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            let image = engine == .postgres ? "pg15-patched" : "redis7-patched"
            let plan = try await CLI.run(
                ["plan", "--config", config, "--database", "db", "--image", image], environment: environment)
            #expect(
                plan.status == 0
                    && plan.stdout.contains(
                        "the follower goes on host b (\(b.address)): not the primary's host a, zone z1 as the primary's"
                    ),
                "\(plan.stdout)\(plan.stderr)")

            let sampler = CommandLineSampler(secrets: [lab.superuserPassword, lab.replicationPassword])
            let sampling = Task { await sampler.run() }
            let run = try await CLI.run(
                ["run", "--config", config, "--database", "db", "--image", image, "--now"], environment: environment)
            sampler.stop()
            let seen = await sampling.value
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            #expect(seen.samples >= 3, "the command lines were sampled \(seen.samples) times")
            #expect(seen.leaks.isEmpty, "a password on a command line: \(seen.leaks)")

            let record = try #require(try StateStore(directory: "\(lab.root)/state").changeovers().first)
            #expect(
                record.facts["new.host"] == b.address && record.facts["new.port"] == String(followerPort),
                "\(record.facts)")
            #expect(record.facts["follower.sshHost"] == "b")
            if engine == .postgres {
                #expect(
                    record.facts["stop.armed"] == "true", "the fence did not use the stop made ready before the pause")
            }
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let report = await probe.stop()
            writer = nil
            switch engine {
            case .postgres:
                let missing = try await AckedWriter.missing(
                    report.acknowledged,
                    on: try await lab.connect(
                        try ConnInfo("host=\(b.address) port=\(followerPort) user=postgres dbname=postgres")))
                #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
                #expect(
                    !FreePort.accepts(primary.port, host: a.address),
                    "the old primary on host a still takes connections")
                #expect(
                    try String(contentsOfFile: "\(b.nodes)/\(record.id)/data/PG_VERSION", encoding: .utf8).hasPrefix(
                        "15"))
            case .redis:
                let missing = try await RedisAckedWriter.missing(
                    report.acknowledged, on: lab.redisEndpoint(host: b.address, port: followerPort))
                #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
                let old = try await RedisConnection.connect(
                    lab.redisEndpoint(host: a.address, port: primary.port), timeout: .seconds(5))
                let role = try RedisRole(try await old.command(["ROLE"], timeout: .seconds(5)))
                old.close()
                guard case .replica(let host, let port, _, _) = role else {
                    Issue.record("the old primary is \(role)")
                    break
                }
                #expect(host == b.address && port == followerPort)
            }
            #expect(AuditLog.verify(path: "\(lab.root)/state/audit.jsonl").isIntact)
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
    }

    /// A Debian cluster on host a (configuration in /etc/postgresql, outside its data
    /// directory) changes over to host b under a writer, 0 lost: the follower gets a copy of the
    /// configuration carried from a to b, and once settled the old cluster is down and its
    /// start.conf says manual, so its service will not start it again.
    @Test func aDebianClusterOnAnotherHostChangesOverAndStaysDown() async throws {
        let lab = try Lab()
        var cluster: PackagedCluster?
        var writer: AckedWriter?
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            let made = try await PackagedCluster.create(lab: lab, on: a.network)
            cluster = made
            let followerPort = FreePort.next()
            let conninfo = try ConnInfo("host=\(a.address) port=\(made.port) user=postgres dbname=postgres")
            let connection = try await lab.connect(conninfo)
            try await AckedWriter.prepare(on: connection)
            connection.close()
            let probe = AckedWriter(
                conninfo: try ConnInfo(
                    "host=\(a.address),\(b.address) port=\(made.port),\(followerPort) user=postgres dbname=postgres "
                        + "target_session_attrs=read-write connect_timeout=2"
                ).with("password", lab.superuserPassword))
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let config = "\(lab.root)/fleet.yaml"
            try Self.config(
                lab: lab, hosts: [a, b], engine: .postgres,
                primaryPort: made.port, followerPort: followerPort
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            let run = try await CLI.run(
                ["run", "--config", config, "--database", "db", "--image", "pg15-patched", "--now"],
                environment: environment)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let record = try #require(try StateStore(directory: "\(lab.root)/state").changeovers().first)
            #expect(
                record.facts["old.cluster"] == "15/\(made.name)"
                    && record.facts["old.service"]?.contains("host a") == true, "\(record.facts)")
            #expect(PackagedServerTests.startConf(made.name) == "manual")
            #expect(try await PackagedCluster.list()[made.name]?.status == "down")
            let new = try await lab.connect(
                try ConnInfo("host=\(b.address) port=\(followerPort) user=postgres dbname=postgres"))
            defer { new.close() }
            #expect(
                try await new.query("SELECT current_setting('config_file')", timeout: .seconds(5)).scalar
                    == "\(b.nodes)/\(record.id)/conf/postgresql.conf")
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let report = await probe.stop()
            writer = nil
            let missing = try await AckedWriter.missing(report.acknowledged, on: new)
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
        await cluster?.drop()
    }

    /// A Debian `redis-server@NAME` instance on host a changes over to host b under a writer,
    /// 0 lost: the old instance is a replica of the new primary, its file says so, and its unit
    /// is disabled over ssh, so its service will not start it again as a primary.
    @Test func aDebianRedisInstanceOnAnotherHostIsDisabledThere() async throws {
        let lab = try Lab()
        var instance: PackagedRedis?
        var writer: RedisAckedWriter?
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            let primary = PackagedRedis(
                name: "chg" + UUID().uuidString.prefix(8).lowercased(), port: FreePort.next(), host: a.network)
            instance = primary
            try await primary.create(password: lab.superuserPassword)
            let followerPort = FreePort.next()
            let probe = RedisAckedWriter(endpoints: [
                lab.redisEndpoint(host: a.address, port: primary.port),
                lab.redisEndpoint(host: b.address, port: followerPort),
            ])
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let config = "\(lab.root)/fleet.yaml"
            try Self.config(
                lab: lab, hosts: [a, b], engine: .redis, primaryPort: primary.port, followerPort: followerPort
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            let run = try await CLI.run(
                ["run", "--config", config, "--database", "db", "--image", "redis7-patched", "--now"],
                environment: ["LAB_PG_PASSWORD": lab.superuserPassword])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let record = try #require(try StateStore(directory: "\(lab.root)/state").changeovers().first)
            #expect(
                record.facts["old.service"] == "\(primary.instance.unit) on host a no longer starts at boot",
                "\(record.facts)")
            #expect(await SystemdService.state(primary.instance.unit) == "disabled")
            let file = try String(contentsOfFile: primary.instance.configFile, encoding: .utf8)
            #expect(file.contains("replicaof \(b.address) \(followerPort)"), "\(file.suffix(300))")
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let report = await probe.stop()
            writer = nil
            let missing = try await RedisAckedWriter.missing(
                report.acknowledged, on: lab.redisEndpoint(host: b.address, port: followerPort))
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
        await instance?.drop()
    }

    /// Host b's key changed (a reinstalled machine, or someone in between): plan and run refuse
    /// at preflight with one line naming the host and the key it offers, and nothing is made.
    @Test func aChangedHostKeyRefusesAtPreflight() async throws {
        let lab = try Lab()
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            let primary = try await lab.startPrimary(on: a.network)
            try await b.replaceHostKey()
            let config = "\(lab.root)/fleet.yaml"
            try Self.config(
                lab: lab, hosts: [a, b], engine: .postgres, primaryPort: primary.port, followerPort: FreePort.next()
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            let run = try await CLI.run(
                ["run", "--config", config, "--database", "db", "--image", "pg15-patched", "--now"],
                environment: environment)
            #expect(run.status != 0)
            #expect(
                run.stderr.contains("host b (\(b.address)): its host key is not the one in")
                    && run.stderr.contains("it offers ED25519 SHA256:"),
                "\(run.stderr)")
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: b.nodes).isEmpty, "something was made on host b")
            let connection = try await lab.connect(primary.conninfo)
            defer { connection.close() }
            #expect(
                try await connection.query("SELECT count(*) FROM pg_replication_slots", timeout: .seconds(5)).scalar
                    == "0")
        } catch {
            Issue.record(error)
        }
        await lab.shutdown()
    }

    /// `service: systemd` over ssh: the follower made on host b gets a unit of its own there,
    /// which `systemd-analyze verify` passes and `systemctl` enables; the next changeover, back
    /// to host a, gives that new primary its own unit and disables b's. 0 lost over both.
    @Test(arguments: [DatabaseConfig.EngineKind.postgres, .redis])
    func aFollowerOnAnotherHostGetsAUnitOfItsOwnThere(engine: DatabaseConfig.EngineKind) async throws {
        let lab = try Lab()
        var writer: (any WriteProbe)?
        var written: [String] = []
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            let primary =
                engine == .postgres
                ? try await lab.startPrimary(on: a.network) : try await lab.startRedisPrimary(on: a.network)
            let ports = [FreePort.next(), FreePort.next()]
            let probe = try await lab.writer(
                engine, over: [(a.address, primary.port), (b.address, ports[0]), (a.address, ports[1])])
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(60))
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            let path = "\(lab.root)/fleet.yaml"
            let images = engine == .postgres ? ["pg15-patched", "pg15"] : ["redis7-patched", "redis7"]
            // From a to b, then from b back to a: the primary's host is the first listed.
            for (index, (hosts, primaryPort)) in [([a, b], primary.port), ([b, a], ports[0])].enumerated() {
                let text = Self.config(
                    lab: lab, hosts: hosts, engine: engine, primaryPort: primaryPort, followerPort: ports[index]
                )
                .replacingOccurrences(of: "  runAs: postgres\n", with: "  runAs: postgres\n  service: systemd\n")
                try #require(text.contains("service: systemd"))
                try text.write(toFile: path, atomically: true, encoding: .utf8)
                let runner = ChangeoverRunner(config: try FleetConfig.load(path: path), environment: environment)
                let plan = try await runner.plan(database: "db", image: images[index])
                #expect(
                    plan.resources.joined(separator: "\n").contains(
                        "started at boot by a unit of its own (changeover-"), "\(plan.resources)")
                let summary = try await runner.run(database: "db", image: images[index])
                try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                #expect(summary.facts["follower.sshHost"] == hosts[1].name)
                let unit = try #require(summary.facts["follower.unit"], "\(summary.facts)")
                written.append(unit)
                #expect(await SystemdUnit.verify("\(SystemdUnit.directory)/\(unit)") == nil)
                #expect(await SystemdService.state(unit) == "enabled")
                let unitText = try String(contentsOfFile: "\(SystemdUnit.directory)/\(unit)", encoding: .utf8)
                let program =
                    engine == .postgres ? "\(lab.binDirectory)/postgres" : "\(Lab.redisBinDirectory)/redis-server"
                #expect(
                    unitText.contains("ExecStart=\"\(program)\"") && unitText.contains("User=postgres"), "\(unitText)")
                if index == 1 {
                    #expect(
                        await SystemdService.state(written[0]) == "disabled",
                        "the unit of the primary replaced on b still starts at boot")
                    #expect(
                        summary.facts["old.service"]?.contains("\(written[0]) on host b") == true, "\(summary.facts)")
                }
            }
            try await probe.waitForAcknowledgements(50, timeout: .seconds(60))
            let report = await probe.stop()
            writer = nil
            let missing = try await lab.missing(report.acknowledged, engine: engine, host: a.address, port: ports[1])
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        for unit in written {
            try? await SystemdService.run("disable", unit)
            try? FileManager.default.removeItem(atPath: "\(SystemdUnit.directory)/\(unit)")
        }
        await lab.shutdown()
    }

    /// The remote stop made ready before the write pause signals nothing until it is fired:
    /// let go, or its ssh client killed (a controller that died), it leaves the primary
    /// serving; fired, it stops the primary and returns its final checkpoint.
    @Test func anArmedStopSignalsOnlyWhenFired() async throws {
        let lab = try Lab()
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let primary = try await lab.startPrimary(on: a.network)
            let login = SSHLogin(
                user: "root", identity: LabSSHHost.identity(lab: lab), knownHosts: LabSSHHost.knownHosts(lab: lab),
                controlDirectory: "\(lab.root)/ssh-control")
            let server = SSHPostgres(
                host: SSHHost(name: "a", address: a.address), login: login, binDirectory: lab.binDirectory,
                dataDirectory: primary.dataDirectory, runAs: "postgres")
            func serves() async -> Bool {
                guard let connection = try? await lab.connect(primary.conninfo) else { return false }
                defer { connection.close() }
                return (try? await connection.query("SELECT 1", timeout: .seconds(5)).scalar) == "1"
            }
            let letGo = try #require(try await server.armStop(timeout: .seconds(10), signal: SIGINT))
            letGo.disarm()
            var killed = try #require(try await server.armStop(timeout: .seconds(10), signal: SIGINT) as? SSHArmedStop)
            kill(killed.started.pid, SIGKILL)
            try await Task.sleep(for: .seconds(1))
            #expect(await serves(), "the primary stopped without the word")
            #expect(try await killed.fire() == .notFired)
            killed = try #require(try await server.armStop(timeout: .seconds(10), signal: SIGINT) as? SSHArmedStop)
            guard case .stopped(let control) = try await killed.fire() else {
                Issue.record("the armed stop did not fire")
                throw LabError("not fired")
            }
            #expect(control?["Database cluster state"] == "shut down", "\(String(describing: control))")
            #expect(control?["Latest checkpoint location"] != nil)
            #expect(!(await serves()), "the primary still serves")
        } catch {
            Issue.record(error)
        }
        await lab.shutdown()
    }

    /// The link to the primary's host is cut during catch-up for 4 s: the lag polls (libpq) fail
    /// and are retried, and the changeover completes once the link is back, 0 lost.
    @Test func aCutToThePrimarysHostDuringCatchUpIsRiddenOut() async throws {
        try await Self.withCut { lab, a, config, environment, probe in
            let cut = Mutex<Task<Void, any Error>?>(nil)
            let runner = ChangeoverRunner(config: try FleetConfig.load(path: config), environment: environment) {
                event in
                guard case .progress(let text) = event, text.hasPrefix("lag"), cut.withLock({ $0 == nil }) else {
                    return
                }
                NetworkCutTests.cutNow(a.network)
                cut.withLock {
                    $0 = Task {
                        try await Task.sleep(for: .seconds(4))
                        try await a.network.restore()
                    }
                }
            }
            let summary = try await runner.run(database: "db", image: "pg15-patched")
            try await cut.withLock { $0 }?.value
            #expect(summary.outcome == .completed, "\(summary.failure ?? "")")
            #expect((summary.timings.first { $0.step == .catchUp }?.retries ?? 0) >= 1, "\(summary.timings)")
        }
    }

    /// The link to the primary's host is cut once the old primary is fenced: the follower on b
    /// is promoted (nothing there needs a), but settle cannot reach a to see the old primary
    /// stays down. The changeover stops there saying so, with the new primary serving; once the
    /// link is back `resume` finishes it, 0 lost.
    @Test func aCutAfterTheFenceStopsAtSettleAndResumeFinishes() async throws {
        try await Self.withCut { lab, a, config, environment, probe in
            let runner = ChangeoverRunner(config: try FleetConfig.load(path: config), environment: environment) {
                event in
                if case .stepStarted(.finalSync) = event { NetworkCutTests.cutNow(a.network) }
            }
            let summary = try await runner.run(database: "db", image: "pg15-patched")
            #expect(
                summary.outcome == .failed && summary.failedStep == .settle,
                "\(summary.outcome) at \(String(describing: summary.failedStep)): \(summary.failure ?? "")")
            #expect(summary.failure?.contains("host a (\(a.address))") == true, "\(summary.failure ?? "")")
            #expect(!summary.rollbackUnfinished)
            let status = try await CLI.run(["status", "--config", config, summary.id], environment: environment).stdout
            #expect(
                status.contains("the new primary serves, but settle failed") && status.contains("resume \(summary.id)"),
                "\(status)")
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            try await a.network.restore()
            let resumed = try await ChangeoverRunner(
                config: try FleetConfig.load(path: config), environment: environment
            ).resume(id: summary.id)
            #expect(resumed.outcome == .completed, "\(resumed.failure ?? "")")
            #expect(resumed.facts["slot.released"] == "true")
        }
    }

    /// A Postgres primary on host a, a follower port for host b, a writer over both, a config
    /// with short timeouts; afterwards the acknowledged writes are checked on b.
    static func withCut(_ body: (Lab, LabSSHHost, String, [String: String], AckedWriter) async throws -> Void)
        async throws
    {
        let lab = try Lab()
        var writer: AckedWriter?
        var failure: (any Error)?
        var hosts: [LabSSHHost] = []
        do {
            let a = try await LabSSHHost.create(lab: lab, name: "a")
            let b = try await LabSSHHost.create(lab: lab, name: "b")
            hosts = [a, b]
            let followerPort = FreePort.next()
            let primary = try await lab.startPrimary(on: a.network)
            let connection = try await lab.connect(primary.conninfo)
            try await AckedWriter.prepare(on: connection)
            connection.close()
            let probe = AckedWriter(
                conninfo: try ConnInfo(
                    "host=\(a.address),\(b.address) port=\(primary.port),\(followerPort) user=postgres dbname=postgres "
                        + "target_session_attrs=read-write connect_timeout=2"
                ).with("password", lab.superuserPassword))
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let config = "\(lab.root)/fleet.yaml"
            try Self.config(
                lab: lab, hosts: [a, b], engine: .postgres, primaryPort: primary.port, followerPort: followerPort,
                catchUp: NetworkCutTests.timeouts(catchUp: "2m")
            )
            .write(toFile: config, atomically: true, encoding: .utf8)
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            try await body(lab, a, config, environment, probe)
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let report = await probe.stop()
            writer = nil
            let new = try await lab.connect(
                try ConnInfo("host=\(b.address) port=\(followerPort) user=postgres dbname=postgres"))
            defer { new.close() }
            let missing = try await AckedWriter.missing(report.acknowledged, on: new)
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
        } catch {
            failure = error
        }
        for host in hosts { try? await host.network.restore() }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
        if let failure { throw failure }
    }

    static func config(
        lab: Lab, hosts: [LabSSHHost], engine: DatabaseConfig.EngineKind, primaryPort: Int, followerPort: Int,
        catchUp: String = "      maxLagBytes: 1MB\n      holdFor: 300ms\n      pollEvery: 50ms\n      timeout: 2m"
    ) -> String {
        let database =
            engine == .postgres
            ? """
                engine: postgres
                image: pg15
                primary: "host=\(hosts[0].address) port=\(primaryPort) user=postgres dbname=postgres"
                password: {env: LAB_PG_PASSWORD}
                replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
            """
            : """
                engine: redis
                image: redis7
                primary: "\(hosts[0].address):\(primaryPort)"
                password: {env: LAB_PG_PASSWORD}
            """
        return """
            stateDirectory: \(lab.root)/state
            provisioner:
              kind: ssh
              user: root
              identity: \(LabSSHHost.identity(lab: lab))
              knownHosts: \(LabSSHHost.knownHosts(lab: lab))
              runAs: postgres
              placement: {zone: same}
              hosts:
            \(hosts.map { "    - {name: \($0.name), address: \($0.address), labels: {zone: z1}, root: \($0.nodes)}" }.joined(separator: "\n"))
            images:
              pg15: {binDirectory: \(lab.binDirectory)}
              pg15-patched: {binDirectory: \(lab.binDirectory)}
              redis7: {binDirectory: \(Lab.redisBinDirectory)}
              redis7-patched: {binDirectory: \(Lab.redisBinDirectory)}
            databases:
              db:
            \(database)
                follower: {port: \(followerPort)}
                catchUp:
            \(catchUp)
            """
    }
}

/// Reads every process's command line over and over until stopped, and keeps any that holds
/// one of `secrets` (the processes of every test host are this machine's).
final class CommandLineSampler: Sendable {
    let secrets: [String]
    private let stopping = Mutex(false)

    init(secrets: [String]) {
        self.secrets = secrets
    }

    func stop() { stopping.withLock { $0 = true } }

    func run() async -> (samples: Int, leaks: [String]) {
        var samples = 0
        var leaks: Set<String> = []
        while !stopping.withLock({ $0 }) {
            for pid in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(pid) != nil {
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                let line = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
                if secrets.contains(where: { line.contains($0) }) { leaks.insert(line) }
            }
            samples += 1
            try? await Task.sleep(for: .milliseconds(5))
        }
        return (samples, leaks.sorted())
    }
}
