import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Servers laid out the way Debian's packages lay them out: a `postgresql-common` cluster made
/// by `pg_createcluster` (its configuration in /etc/postgresql/15/NAME, outside its data
/// directory), started by `pg_ctlcluster`, scram passwords. Each test makes its own cluster
/// with a unique name and drops it whatever happens.
@Suite(.serialized) struct PackagedServerTests {
    /// A Debian cluster under a writer changes over with `run --now`, 0 lost. By default
    /// (`service: auto`) the follower is made a cluster of its own: afterwards `pg_lsclusters`
    /// shows the new primary online and the old cluster down, the old one's `start.conf` says
    /// manual and the new one's auto, and `pg_ctlcluster` stops and starts the new primary with
    /// every row. With `service: none` the follower is a bare server with a copy of the
    /// configuration. Either way a second changeover from the new primary works; the test
    /// drops every cluster it made, whatever happens.
    @Test(arguments: ["auto", "none"])
    func aDebianClusterChangesOverUnderAWriter(service: String) async throws {
        let lab = try Lab()
        let cluster = try await PackagedCluster.create(lab: lab)
        var writer: AckedWriter?
        do {
            let followers = [FreePort.next(), FreePort.next()]
            let conninfo = try ConnInfo("host=127.0.0.1 port=\(cluster.port) user=postgres dbname=postgres")
            let connection = try await lab.connect(conninfo)
            #expect(
                try await connection.query("SELECT current_setting('config_file')", timeout: .seconds(5)).scalar
                    == "/etc/postgresql/15/\(cluster.name)/postgresql.conf")
            try await AckedWriter.prepare(on: connection)
            connection.close()
            let ports = [cluster.port] + followers
            let probe = AckedWriter(
                conninfo: try ConnInfo(
                    "host=\(ports.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(ports.map(String.init).joined(separator: ",")) "
                        + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2"
                )
                .with("password", lab.superuserPassword))
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))

            let config = "\(lab.root)/fleet.yaml"
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            let store = StateStore(directory: "\(lab.root)/state")
            for (index, image) in ["pg15-patched", "pg15"].enumerated() {
                try Self.config(lab: lab, port: cluster.port, followerPort: followers[index], service: service)
                    .write(toFile: config, atomically: true, encoding: .utf8)
                if index == 0 {
                    // plan names the layout it found and what the follower will be made.
                    let plan = try await CLI.run(
                        ["plan", "--config", config, "--database", "orders", "--image", image], environment: environment
                    )
                    #expect(
                        plan.stdout.contains(
                            "layout: Debian cluster 15/\(cluster.name) (configuration in /etc/postgresql/15/\(cluster.name)"
                        ),
                        "\(plan.stdout)")
                    #expect(
                        plan.stdout.contains(
                            service == "auto"
                                ? "the follower becomes cluster 15/\(cluster.name)-STAMP"
                                : "the follower runs as a server process in its node, with a copy of that configuration"
                        ),
                        "\(plan.stdout)")
                }
                let run = try await CLI.run(
                    ["run", "--config", config, "--database", "orders", "--image", image, "--now"],
                    environment: environment)
                #expect(run.status == 0, "changeover \(index + 1): \(run.stdout)\(run.stderr)")
                guard index == 0 else { continue }
                let record = try #require(try store.changeovers().first)
                let clusters = try await PackagedCluster.list()
                #expect(clusters[cluster.name]?.status == "down", "the old cluster is not down: \(clusters)")
                let new = try await lab.connect(conninfo.with("port", String(followers[0])))
                let file = try await new.query(
                    "SELECT current_setting('config_file'), current_setting('external_pid_file')",
                    timeout: .seconds(5)
                ).rows.first
                new.close()
                if service == "auto" {
                    let made = try #require(record.facts["follower.cluster"], "\(record.facts)")
                    let name = String(made.dropFirst("15/".count))
                    #expect(clusters[name]?.status == "online" && clusters[name]?.port == followers[0], "\(clusters)")
                    #expect(Self.startConf(cluster.name) == "manual" && Self.startConf(name) == "auto")
                    #expect(file?[0] == "/etc/postgresql/15/\(name)/postgresql.conf", "\(file ?? [])")
                    #expect(file?[1] == "/var/run/postgresql/15-\(name).pid", "\(file ?? [])")
                    // Stopped and started by its service, it comes back as the primary.
                    try await cluster.run(["pg_ctlcluster", "15", name, "stop"])
                    #expect(try await PackagedCluster.list()[name]?.status == "down")
                    try await cluster.run(["pg_ctlcluster", "15", name, "start"])
                    let again = try await lab.connect(conninfo.with("port", String(followers[0])))
                    #expect(
                        try await again.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar
                            == "false")
                    again.close()
                } else {
                    #expect(record.facts["follower.cluster"] == nil)
                    #expect(
                        file?[0]?.hasSuffix("/conf/postgresql.conf") == true
                            && file?[0]?.hasPrefix("\(lab.root)/nodes/") == true,
                        "\(file ?? [])")
                    #expect(file?[1] == "", "\(file ?? [])")
                }
                try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            }
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            let report = await probe.stop()
            writer = nil
            let last = try await lab.connect(conninfo.with("port", String(followers[1])))
            defer { last.close() }
            let missing = try await AckedWriter.missing(report.acknowledged, on: last)
            #expect(missing.isEmpty, "lost \(missing.count) of \(report.acknowledged.count) acknowledged writes")
            #expect(AuditLog.verify(path: "\(lab.root)/state/audit.jsonl").isIntact)
        } catch {
            Issue.record(error)
        }
        if let writer { _ = await writer.stop() }
        await lab.shutdown()
        await cluster.drop()
    }

    static func startConf(_ name: String) -> String? {
        DebianCluster(version: "15", name: name).startMode
    }

    /// A follower that cannot start (a preload library the new image lacks) rolls back with exit
    /// 4; the primary serves; the error and the audit record carry the follower's last log lines
    /// and a path where its log is kept after the rollback removed its node.
    @Test func aFollowerThatCannotStartSaysWhyAndKeepsItsLog() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let admin = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { admin.close() }
            // Applies at the next start only: the primary runs on; the base backup copies it.
            _ = try await admin.simpleQuery(
                "ALTER SYSTEM SET shared_preload_libraries = 'changeover_missing_library'", timeout: .seconds(10))
            let run = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            _ = try await admin.simpleQuery("ALTER SYSTEM RESET shared_preload_libraries", timeout: .seconds(10))
            #expect(run.status == 4, "\(run.stderr)")
            #expect(
                run.stderr.contains("the follower did not start") && run.stderr.contains("changeover_missing_library"),
                "\(run.stderr)")
            let kept = try #require(
                run.stderr.range(of: #"kept at (\S+)\)"#, options: .regularExpression).map {
                    String(run.stderr[$0].dropFirst("kept at ".count).dropLast())
                }, "\(run.stderr)")
            #expect(
                kept.hasPrefix("\(scenario.lab.root)/state/logs/") && FileManager.default.fileExists(atPath: kept),
                "\(kept)")
            #expect(try String(contentsOfFile: kept, encoding: .utf8).contains("changeover_missing_library"))
            let audit = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(
                audit.contains {
                    $0.step == "provision" && $0.outcome == "failed"
                        && $0.message?.contains("changeover_missing_library") == true
                })
            // The primary serves: the writer goes on, nothing lost.
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }

    /// A primary that takes TLS connections only (`hostssl`), reached with `sslmode=verify-full`
    /// against a test CA: every connection of the controller verifies the server's name, the
    /// follower streams over TLS (pg_stat_ssl), the changeover completes with nothing lost, and
    /// an `sslpassword` in the conninfo is shown masked.
    @Test func aTLSOnlyPrimaryChangesOverWithVerifyFull() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let tls = "\(scenario.lab.root)/tls"
            try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: true)
            for argv in [
                [
                    "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=changeover test CA",
                    "-keyout", "\(tls)/ca.key", "-out", "\(tls)/ca.crt",
                ],
                [
                    "openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
                    "\(tls)/server.key",
                    "-out", "\(tls)/server.csr",
                ],
                [
                    "sh", "-c",
                    "printf 'subjectAltName=IP:127.0.0.1\\n' > \(tls)/san.ext && openssl x509 -req -in \(tls)/server.csr "
                        + "-CA \(tls)/ca.crt -CAkey \(tls)/ca.key -CAcreateserial -days 2 -extfile \(tls)/san.ext -out \(tls)/server.crt",
                ],
            ] {
                let made = try await Subprocess.run(argv, timeout: .seconds(60))
                try #require(made.succeeded, "\(argv[0]): \(made.stderr)")
            }
            if let (uid, gid) = LocalFiles.ids(of: "postgres") {
                for file in ["server.key", "server.crt", "ca.crt"] { chown("\(tls)/\(file)", uid, gid) }
            }
            chmod("\(tls)/server.key", 0o600)
            try """
            local all all trust
            hostssl all all 127.0.0.1/32 scram-sha-256
            hostssl replication all 127.0.0.1/32 scram-sha-256

            """.write(toFile: "\(scenario.primary.dataDirectory)/pg_hba.conf", atomically: false, encoding: .utf8)
            let admin = try await scenario.lab.connect(scenario.primary.conninfo)
            for sql in [
                "ALTER SYSTEM SET ssl = on", "ALTER SYSTEM SET ssl_cert_file = '\(tls)/server.crt'",
                "ALTER SYSTEM SET ssl_key_file = '\(tls)/server.key'", "SELECT pg_reload_conf()",
            ] {
                _ = try await admin.simpleQuery(sql, timeout: .seconds(10))
            }
            admin.close()
            // Without TLS the primary now refuses.
            await #expect(throws: (any Error).self) {
                _ = try await scenario.lab.connect(scenario.primary.conninfo.with("sslmode", "disable"))
            }
            let verified =
                "host=127.0.0.1 port=\(scenario.primary.port) user=postgres dbname=postgres sslmode=verify-full sslrootcert=\(tls)/ca.crt"
            try scenario.configText(followerPort: scenario.followerPorts[0])
                .replacingOccurrences(
                    of:
                        "primary: \"host=\(scenario.primary.host) port=\(scenario.primary.port) user=postgres dbname=postgres\"",
                    with: "primary: \"\(verified)\""
                )
                .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            #expect(try String(contentsOfFile: scenario.configPath, encoding: .utf8).contains("sslmode=verify-full"))

            let prepared = try await CLI.run(
                ["prepare", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            let primaryLog =
                ((try? String(contentsOfFile: "\(scenario.primary.dataDirectory)/../postgres.log", encoding: .utf8))
                ?? "").suffix(3000)
            #expect(prepared.status == 0, "\(prepared.stdout)\(prepared.stderr)\n\(primaryLog)")
            // The follower streams over TLS.
            let primary = try await scenario.lab.connect(try ConnInfo(verified))
            let streams = try await primary.query(
                "SELECT s.ssl::text FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)", timeout: .seconds(5)
            ).rows
            primary.close()
            #expect(streams.count == 1 && streams.first?[0] == "true", "\(streams)")
            let id = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id)
            let switched = try await CLI.run(
                ["switch", id, "--now", "--config", scenario.configPath], environment: scenario.environment)
            #expect(switched.status == 0, "\(switched.stdout)\(switched.stderr)")
            // The new primary answers with its name verified, as every controller connection did.
            let new = try await scenario.lab.connect(
                try ConnInfo(verified).with("port", String(scenario.followerPorts[0])))
            #expect(try await new.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
            new.close()
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            // A client key's passphrase is masked like a password.
            #expect(!"\(try ConnInfo(verified + " sslpassword=s3cr3t-phrase"))".contains("s3cr3t-phrase"))
        }
    }

    /// `follower.listen: 0.0.0.0`: the new primary takes connections on every interface, and a
    /// client on another host (a network namespace, reaching this machine over its link) writes
    /// to it after the changeover.
    @Test func aFollowerListeningOnEveryInterfaceTakesWritesFromAnotherHost() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let host = try await scenario.lab.makeNetworkHost()
            let port = scenario.followerPorts[0]
            try scenario.configText(
                followerPort: nil, extra: "    follower: {port: \(port), listen: 0.0.0.0, advertise: 127.0.0.1}"
            )
            .write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let run = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.environment)
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let record = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first)
            #expect(
                record.facts["new.host"] == "127.0.0.1" && record.facts["new.port"] == String(port), "\(record.facts)")
            // From the other host, over its link, to this machine's end of it.
            let psql = try await Subprocess.run(
                host.argv([
                    "\(scenario.lab.binDirectory)/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                    "host=\(host.hostAddress) port=\(port) user=postgres dbname=postgres connect_timeout=5",
                    "-c", "CREATE TABLE IF NOT EXISTS from_elsewhere (note text)",
                    "-c", "INSERT INTO from_elsewhere VALUES ('written from \(host.address)')",
                ]), environment: ["PGPASSWORD": scenario.lab.superuserPassword], timeout: .seconds(60))
            #expect(psql.succeeded, "\(psql.stderr)")
            let new = try await scenario.lab.connect(scenario.primary.conninfo.with("port", String(port)))
            defer { new.close() }
            #expect(
                try await new.query("SELECT note FROM from_elsewhere", timeout: .seconds(5)).scalar
                    == "written from \(host.address)")
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
        }
    }

    /// Without `follower.listen`, a follower listens where its primary does: a primary on every
    /// interface gets a new primary on every interface, which a client on another host (a
    /// network namespace, over its link) writes to.
    @Test func aFollowerListensWhereItsPrimaryDoes() async throws {
        let lab = try Lab()
        do {
            let primary = try await lab.startPrimary(settings: ["listen_addresses": "*"])
            let host = try await lab.makeNetworkHost()
            let followerPort = FreePort.next()
            let config = "\(lab.root)/fleet.yaml"
            try Self.config(lab: lab, port: primary.port, followerPort: followerPort).write(
                toFile: config, atomically: true, encoding: .utf8)
            let run = try await CLI.run(
                ["run", "--config", config, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword])
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
            let new = try await lab.connect(primary.conninfo.with("port", String(followerPort)))
            defer { new.close() }
            #expect(
                try await new.query("SELECT current_setting('listen_addresses')", timeout: .seconds(5)).scalar == "*")
            let psql = try await Subprocess.run(
                host.argv([
                    "\(lab.binDirectory)/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                    "host=\(host.hostAddress) port=\(followerPort) user=postgres dbname=postgres connect_timeout=5",
                    "-c", "CREATE TABLE from_elsewhere (note text)", "-c",
                    "INSERT INTO from_elsewhere VALUES ('over the link')",
                ]), environment: ["PGPASSWORD": lab.superuserPassword], timeout: .seconds(60))
            #expect(psql.succeeded, "\(psql.stderr)")
            #expect(
                try await new.query("SELECT note FROM from_elsewhere", timeout: .seconds(5)).scalar == "over the link")
        } catch {
            Issue.record(error)
        }
        await lab.shutdown()
    }

    static func config(lab: Lab, port: Int, followerPort: Int, service: String = "auto") -> String {
        """
        stateDirectory: \(lab.root)/state
        provisioner: {kind: local, root: \(lab.root)/nodes, runAs: postgres, service: \(service)}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=\(port) user=postgres dbname=postgres"
            password: {env: LAB_PG_PASSWORD}
            replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
            follower: {port: \(followerPort)}
            catchUp: {maxLagBytes: 1MB, holdFor: 300ms, pollEvery: 50ms, timeout: 2m}
        """
    }
}

/// A `postgresql-common` cluster of this test run: made by `pg_createcluster` with a unique
/// name on a free port, started by `pg_ctlcluster`, passwords set over its unix socket (peer
/// authentication, as the package sets it up); `drop()` stops and removes it.
struct PackagedCluster {
    let name: String
    let port: Int

    /// On `host`: listening on the host's address, started inside its namespace, its pg_hba
    /// letting in the test network's clients.
    static func create(lab: Lab, on host: LabNetworkHost? = nil) async throws -> PackagedCluster {
        let cluster = PackagedCluster(name: "chg" + UUID().uuidString.prefix(8).lowercased(), port: FreePort.next())
        do {
            try await cluster.run(["pg_createcluster", "15", cluster.name, "-p", String(cluster.port)])
            let configuration = DebianCluster(version: "15", name: cluster.name).configDirectory
            if let host {
                try cluster.append("listen_addresses = '\(host.address)'\n", to: "\(configuration)/postgresql.conf")
                try cluster.append(
                    "host all all 10.0.0.0/8 scram-sha-256\nhost replication all 10.0.0.0/8 scram-sha-256\n",
                    to: "\(configuration)/pg_hba.conf")
            }
            try await cluster.run((host?.argv([]) ?? []) + ["pg_ctlcluster", "15", cluster.name, "start"])
            // The passwords go in on stdin, not on a command line.
            try await cluster.run(
                Subprocess.runAsPrefix("postgres") + [
                    "/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql",
                    "-p", String(cluster.port),
                    "-d", "postgres", "-f", "-",
                ],
                stdin: """
                    ALTER ROLE postgres PASSWORD '\(lab.superuserPassword)';
                    CREATE ROLE replicator REPLICATION LOGIN PASSWORD '\(lab.replicationPassword)';
                    """)
        } catch {
            await cluster.drop()
            throw error
        }
        return cluster
    }

    func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }

    func run(_ argv: [String], stdin: String? = nil) async throws {
        let outcome = try await Subprocess.run(argv, stdin: stdin.map { Data($0.utf8) }, timeout: .seconds(120))
        guard outcome.succeeded else { throw LabError("\(argv[0]) failed: \(outcome.stderr)\(outcome.stdout)") }
    }

    /// Stops (immediately) and removes the cluster and every cluster a changeover made of it
    /// (named after it), their data and their configuration.
    func drop() async {
        let names = ((try? await Self.list()) ?? [:]).keys.filter { $0 == name || $0.hasPrefix(name + "-") }
        for name in Set(names + [name]) {
            _ = try? await Subprocess.run(
                ["pg_ctlcluster", "15", name, "stop", "-m", "immediate"], timeout: .seconds(60))
            _ = try? await Subprocess.run(["pg_dropcluster", "--stop", "15", name], timeout: .seconds(60))
        }
    }

    /// `pg_lsclusters`' version-15 clusters: name → (port, status).
    static func list() async throws -> [String: (port: Int, status: String)] {
        let text = try await Subprocess.run(["pg_lsclusters", "-h"], timeout: .seconds(30)).stdout
        var clusters: [String: (port: Int, status: String)] = [:]
        for line in text.split(separator: "\n") {
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard words.count >= 4, words[0] == "15", let port = Int(words[2]) else { continue }
            clusters[words[1]] = (port, words[3])
        }
        return clusters
    }
}
