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
    /// A Debian cluster under a writer changes over with `run --now`: the follower starts from a
    /// copy of the cluster's configuration, every acknowledged write is on the new primary, the
    /// old cluster is down in `pg_lsclusters`, and a second changeover from the new primary works.
    @Test func aDebianClusterChangesOverUnderAWriter() async throws {
        let lab = try Lab()
        let cluster = try await DebianCluster.create(lab: lab)
        var writer: AckedWriter?
        do {
            let followers = [FreePort.next(), FreePort.next()]
            let conninfo = try ConnInfo("host=127.0.0.1 port=\(cluster.port) user=postgres dbname=postgres")
            let connection = try await lab.connect(conninfo)
            #expect(try await connection.query("SELECT current_setting('config_file')", timeout: .seconds(5)).scalar
                    == "/etc/postgresql/15/\(cluster.name)/postgresql.conf")
            try await AckedWriter.prepare(on: connection)
            connection.close()
            let ports = [cluster.port] + followers
            let probe = AckedWriter(conninfo: try ConnInfo(
                "host=\(ports.map { _ in "127.0.0.1" }.joined(separator: ",")) port=\(ports.map(String.init).joined(separator: ",")) "
                    + "user=postgres dbname=postgres target_session_attrs=read-write connect_timeout=2")
                .with("password", lab.superuserPassword))
            writer = probe
            await probe.start()
            try await probe.waitForAcknowledgements(50, timeout: .seconds(30))

            let config = "\(lab.root)/fleet.yaml"
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword, "LAB_REPL_PASSWORD": lab.replicationPassword]
            for (index, image) in ["pg15-patched", "pg15"].enumerated() {
                try Self.config(lab: lab, port: cluster.port, followerPort: followers[index]).write(toFile: config, atomically: true, encoding: .utf8)
                let run = try await CLI.run(["run", "--config", config, "--database", "orders", "--image", image, "--now"], environment: environment)
                #expect(run.status == 0, "changeover \(index + 1): \(run.stdout)\(run.stderr)")
                if index == 0 {
                    let lines = try await Subprocess.run(["pg_lsclusters", "-h"], timeout: .seconds(30)).stdout
                    let line = lines.split(separator: "\n").first { $0.split(separator: " ").dropFirst().first == Substring(cluster.name) }
                    #expect(line?.contains(" down ") == true, "the old cluster is not down: \(lines)")
                    // The new primary runs from a copy of the cluster's configuration, as its own node.
                    let new = try await lab.connect(conninfo.with("port", String(followers[0])))
                    let file = try await new.query("SELECT current_setting('config_file'), current_setting('external_pid_file')",
                                                   timeout: .seconds(5)).rows.first
                    new.close()
                    #expect(file?[0]?.hasSuffix("/conf/postgresql.conf") == true && file?[0]?.hasPrefix("\(lab.root)/nodes/") == true,
                            "\(file ?? [])")
                    #expect(file?[1] == "", "\(file ?? [])")
                }
                try await probe.waitForAcknowledgements(50, timeout: .seconds(30))
            }
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

    /// A follower that cannot start (a preload library the new image lacks) rolls back with exit
    /// 4; the primary serves; the error and the audit record carry the follower's last log lines
    /// and a path where its log is kept after the rollback removed its node.
    @Test func aFollowerThatCannotStartSaysWhyAndKeepsItsLog() async throws {
        try await withScenario(changeovers: 1) { scenario in
            let admin = try await scenario.lab.connect(scenario.primary.conninfo)
            defer { admin.close() }
            // Applies at the next start only: the primary runs on; the base backup copies it.
            _ = try await admin.simpleQuery("ALTER SYSTEM SET shared_preload_libraries = 'changeover_missing_library'", timeout: .seconds(10))
            let run = try await CLI.run(["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                                        environment: scenario.environment)
            _ = try await admin.simpleQuery("ALTER SYSTEM RESET shared_preload_libraries", timeout: .seconds(10))
            #expect(run.status == 4, "\(run.stderr)")
            #expect(run.stderr.contains("the follower did not start") && run.stderr.contains("changeover_missing_library"), "\(run.stderr)")
            let kept = try #require(run.stderr.range(of: #"kept at (\S+)\)"#, options: .regularExpression).map {
                String(run.stderr[$0].dropFirst("kept at ".count).dropLast())
            }, "\(run.stderr)")
            #expect(kept.hasPrefix("\(scenario.lab.root)/state/logs/") && FileManager.default.fileExists(atPath: kept), "\(kept)")
            #expect(try String(contentsOfFile: kept, encoding: .utf8).contains("changeover_missing_library"))
            let audit = try AuditLog.read(path: try scenario.config().auditLog)
            #expect(audit.contains { $0.step == "provision" && $0.outcome == "failed" && $0.message?.contains("changeover_missing_library") == true })
            // The primary serves: the writer goes on, nothing lost.
            try await scenario.writer.waitForAcknowledgements(50)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
        }
    }

    static func config(lab: Lab, port: Int, followerPort: Int) -> String {
        """
        stateDirectory: \(lab.root)/state
        provisioner: {kind: local, root: \(lab.root)/nodes, runAs: postgres}
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
struct DebianCluster {
    let name: String
    let port: Int

    static func create(lab: Lab) async throws -> DebianCluster {
        let cluster = DebianCluster(name: "chg" + UUID().uuidString.prefix(8).lowercased(), port: FreePort.next())
        do {
            try await cluster.run(["pg_createcluster", "15", cluster.name, "-p", String(cluster.port)])
            try await cluster.run(["pg_ctlcluster", "15", cluster.name, "start"])
            // The passwords go in on stdin, not on a command line.
            try await cluster.run(Subprocess.runAsPrefix("postgres") + [
                "/usr/lib/postgresql/15/bin/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql", "-p", String(cluster.port),
                "-d", "postgres", "-f", "-",
            ], stdin: """
                ALTER ROLE postgres PASSWORD '\(lab.superuserPassword)';
                CREATE ROLE replicator REPLICATION LOGIN PASSWORD '\(lab.replicationPassword)';
                """)
        } catch {
            await cluster.drop()
            throw error
        }
        return cluster
    }

    func run(_ argv: [String], stdin: String? = nil) async throws {
        let outcome = try await Subprocess.run(argv, stdin: stdin.map { Data($0.utf8) }, timeout: .seconds(120))
        guard outcome.succeeded else { throw LabError("\(argv[0]) failed: \(outcome.stderr)\(outcome.stdout)") }
    }

    /// Stops (immediately) and removes the cluster, its data and its configuration.
    func drop() async {
        _ = try? await Subprocess.run(["pg_ctlcluster", "15", name, "stop", "-m", "immediate"], timeout: .seconds(60))
        _ = try? await Subprocess.run(["pg_dropcluster", "--stop", "15", name], timeout: .seconds(60))
    }
}
