import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import RedisClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Test hosts (`LabNetworkHost`): a primary in a network namespace, reachable only across a veth
/// link that a test cuts and restores.
@Suite(.serialized) struct NetworkHostTests {
    /// While the link is cut a connect fails within its timeout, an open connection's query
    /// times out, a query sent on another open connection waits and finishes once the link is
    /// back, and the server's unix socket keeps working; after `restore()` TCP works again.
    @Test func postgresPrimaryOnATestHostIsCutOffAndRestored() async throws {
        try await withLab { lab in
            let host = try await lab.makeNetworkHost()
            let primary = try await lab.startPrimary(on: host)
            #expect(primary.host == host.address)
            #expect(primary.conninfo.host == host.address)
            #expect(!FreePort.accepts(primary.port), "the primary listens on 127.0.0.1 too")
            let open = try await lab.connect(primary.conninfo)
            defer { open.close() }
            let stalled = try await lab.connect(primary.conninfo)
            defer { stalled.close() }
            let addresses = try await open.query(
                "SELECT host(inet_server_addr()), host(inet_client_addr())", timeout: .seconds(5))
            #expect(addresses.rows.first?[0] == host.address)
            #expect(addresses.rows.first?[1] == host.hostAddress)
            let socketDirectory = URL(fileURLWithPath: primary.dataDirectory).deletingLastPathComponent().path
            let listener = try Listener(host: host.hostAddress)
            defer { listener.close() }
            #expect(
                try await reaches(from: host, host.hostAddress, port: listener.port),
                "the test host cannot reach this machine")

            try await host.cut()
            #expect(!host.isReachable())
            #expect(!FreePort.accepts(primary.port, host: host.address))
            #expect(
                try await !reaches(from: host, host.hostAddress, port: listener.port),
                "the test host reaches this machine across the cut")
            let clock = ContinuousClock()
            var started = clock.now
            await #expect(throws: PostgresError.self) {
                _ = try await PostgresConnection.connect(
                    primary.conninfo.with("connect_timeout", "1").with("password", lab.superuserPassword),
                    timeout: .seconds(1))
            }
            let connectFailed = clock.now - started
            #expect(connectFailed < .seconds(5), "a 1 s connect timeout is kept, not TCP's minutes")
            started = clock.now
            do throws(PostgresError) {
                _ = try await open.query("SELECT 1", timeout: .seconds(1))
                Issue.record("a query was answered across a cut link")
            } catch {
                #expect(error.code == .timeout, "\(error)")
            }
            let queryFailed = clock.now - started
            #expect(queryFailed < .seconds(6), "a 1 s query timeout (and its cancel) is kept, not TCP's minutes")
            // Sent during the cut, answered after it: the connection stalls, it is not reset.
            started = clock.now
            let waiting = Task { try await stalled.query("SELECT 'answered'", timeout: .seconds(15)) }
            // Local admin does not need the network.
            let local = try await lab.connect(
                try ConnInfo("host=\(socketDirectory) port=\(primary.port) user=postgres dbname=postgres"))
            #expect(try await local.query("SELECT 1::text", timeout: .seconds(5)).scalar == "1")
            local.close()
            try await Task.sleep(for: .seconds(1))

            try await host.restore()
            #expect(try await reaches(from: host, host.hostAddress, port: listener.port))
            let again = try await lab.connect(primary.conninfo)
            defer { again.close() }
            #expect(try await again.query("SELECT 1::text", timeout: .seconds(5)).scalar == "1")
            #expect(try await waiting.value.scalar == "answered")
            let stalledFor = clock.now - started
            #expect(stalledFor >= .seconds(1))
            print(
                "postgres on \(host.address) cut: connect failed after \(ms(connectFailed)), a 1 s query gave up after \(ms(queryFailed)), a query sent during a 1 s cut was answered after \(ms(stalledFor))"
            )
        }
    }

    /// The same for Redis.
    @Test func redisPrimaryOnATestHostIsCutOffAndRestored() async throws {
        try await withLab { lab in
            let host = try await lab.makeNetworkHost()
            let primary = try await lab.startRedisPrimary(on: host)
            #expect(primary.host == host.address)
            let endpoint = lab.redisEndpoint(primary)
            #expect(endpoint.host == host.address)
            #expect(!FreePort.accepts(primary.port), "the primary listens on 127.0.0.1 too")
            let open = try await RedisConnection.connect(endpoint, timeout: .seconds(5))
            defer { open.close() }
            let stalled = try await RedisConnection.connect(endpoint, timeout: .seconds(5))
            defer { stalled.close() }
            #expect(try await open.command(["PING"], timeout: .seconds(5)).string == "PONG")

            try await host.cut()
            #expect(!FreePort.accepts(primary.port, host: host.address))
            let clock = ContinuousClock()
            var started = clock.now
            await #expect(throws: RedisError.self) {
                _ = try await RedisConnection.connect(endpoint, timeout: .seconds(1))
            }
            let connectFailed = clock.now - started
            #expect(connectFailed < .seconds(5), "a 1 s connect timeout is kept, not TCP's minutes")
            started = clock.now
            do throws(RedisError) {
                _ = try await open.command(["PING"], timeout: .seconds(1))
                Issue.record("a command was answered across a cut link")
            } catch {
                #expect(error.code == .timeout, "\(error)")
            }
            let commandFailed = clock.now - started
            #expect(commandFailed < .seconds(5), "a 1 s command timeout is kept, not TCP's minutes")
            started = clock.now
            let waiting = Task { try await stalled.command(["ECHO", "answered"], timeout: .seconds(15)) }
            try await Task.sleep(for: .seconds(1))

            try await host.restore()
            let again = try await RedisConnection.connect(endpoint, timeout: .seconds(5))
            defer { again.close() }
            #expect(try await again.command(["PING"], timeout: .seconds(5)).string == "PONG")
            #expect(try await waiting.value.string == "answered")
            let stalledFor = clock.now - started
            print(
                "redis on \(host.address) cut: connect failed after \(ms(connectFailed)), a 1 s command gave up after \(ms(commandFailed)), a command sent during a 1 s cut was answered after \(ms(stalledFor))"
            )
        }
    }

    /// `shutdown()` stops the servers on the lab's test hosts and deletes the hosts with their links.
    @Test func shutdownStopsTestHostServersAndDeletesTheHosts() async throws {
        let lab = try Lab()
        let host = try await lab.makeNetworkHost()
        let postgres = try await lab.startPrimary(on: host)
        let redis = try await lab.startRedisPrimary(on: host)
        let postgresPid = try #require(
            LocalPostgres(binDirectory: lab.binDirectory, dataDirectory: postgres.dataDirectory).pidFile()?.pid)
        let redisPid = try #require(
            LocalRedis(binDirectory: Lab.redisBinDirectory, nodeDirectory: redis.dataDirectory).pid)
        #expect(host.processes().contains(postgresPid), "postgres does not run in the test host's namespace")
        #expect(host.processes().contains(redisPid), "redis-server does not run in the test host's namespace")
        #expect(lab.runningServers().count == 1)
        #expect(lab.runningRedisServers().count == 1)
        #expect(try await namespaces().contains(host.name))

        await lab.shutdown()
        #expect(try await !namespaces().contains(host.name), "namespace \(host.name) is left")
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(host.hostInterface)"))
        #expect(!FileManager.default.fileExists(atPath: "/sys/class/net/\(host.guardInterface)"))
        #expect(!Subprocess.isAlive(postgresPid))
        #expect(!Subprocess.isAlive(redisPid))
        try expectNothingLeft(lab)
    }

    /// A namespace left by a test run that was killed (its pid is gone) is deleted, with what
    /// still runs in it; the hosts of a live process are left alone.
    @Test func sweepDeletesTheHostsOfDeadTestRuns() async throws {
        try await withLab { lab in
            let live = try await lab.makeNetworkHost()
            let gone = try Subprocess.spawn(["true"])
            while Subprocess.reap(gone) == nil { try await Task.sleep(for: .milliseconds(1)) }
            let name = "chg-\(gone)-1"
            try await ip(["netns", "add", name])
            let sleeper = try Subprocess.spawn([LabNetworkHost.ipTool, "netns", "exec", name, "sleep", "60"])
            defer {
                kill(sleeper, SIGKILL)
                _ = Subprocess.reap(sleeper)
            }
            // `ip netns exec` execs sleep once it has entered the namespace: seconds on a loaded machine.
            try await waitUntil(.seconds(30)) {
                FileManager.default.fileExists(atPath: "/proc/\(sleeper)/exe")
                    && (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(sleeper)/exe"))?.hasSuffix(
                        "sleep") == true
            }

            // Every new Lab sweeps too, so a test starting beside this one may have deleted it
            // first: what counts is that it is gone and the live host is not.
            let removed = LabNetworkHost.sweep()
            #expect(!removed.contains(live.name))
            let left = try await namespaces()
            #expect(!left.contains(name), "the dead run's namespace \(name) is left")
            #expect(left.contains(live.name), "sweep deleted the host of a live process")
            _ = Subprocess.reap(sleeper)
            #expect(!Subprocess.isAlive(sleeper), "the process inside the dead run's namespace still runs")
        }
    }

    /// A Postgres changeover whose primary is on a test host: the follower on 127.0.0.1 base-backs
    /// up and streams from the host's address, and the switch loses nothing.
    @Test func postgresChangeoverFromATestHost() async throws {
        try await withNetworkScenario(engine: .postgres) { scenario, host in
            #expect(
                scenario.configText(followerPort: nil).contains("host=\(host.address) port=\(scenario.primary.port)"))
            let summary = try await scenario.changeover(0)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            #expect(summary.facts["follower.host"] == "127.0.0.1")
            let followerData = try #require(summary.facts["follower.dataDirectory"])
            let recovery = try String(contentsOfFile: "\(followerData)/postgresql.auto.conf", encoding: .utf8)
            #expect(
                recovery.contains("host=\(host.address)"), "the follower did not stream from the test host: \(recovery)"
            )
            #expect(
                !LocalPostgres(binDirectory: scenario.lab.binDirectory, dataDirectory: scenario.primary.dataDirectory)
                    .isRunning)
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            #expect(try await scenario.missing(report.acknowledged, port: scenario.followerPorts[0]).isEmpty)
            print(
                "postgres changeover from \(host.address): \(report.acknowledged.count) acknowledged commits, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
        }
    }

    /// The same for Redis: the replica on 127.0.0.1 syncs from the host's address.
    @Test func redisChangeoverFromATestHost() async throws {
        try await withNetworkScenario(engine: .redis) { scenario, host in
            #expect(
                scenario.configText(followerPort: nil).contains("primary: \"\(host.address):\(scenario.primary.port)\"")
            )
            let summary = try await scenario.changeover(0)
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            #expect(summary.facts["follower.host"] == "127.0.0.1")
            #expect(
                !FreePort.accepts(scenario.primary.port, host: host.address),
                "the old primary on the test host was not retired")
            try await scenario.writer.waitForAcknowledgements(200)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged).isEmpty)
            print(
                "redis changeover from \(host.address): \(report.acknowledged.count) acknowledged writes, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
        }
    }

    /// A standby on 127.0.0.1 streaming from a test host waits out a cut and catches up after it.
    @Test func standbyStreamingFromATestHostResumesAfterACut() async throws {
        try await withLab { lab in
            let host = try await lab.makeNetworkHost()
            let primary = try await lab.startPrimary(on: host)
            let standby = try await lab.startStandby(of: primary)
            let writer = try await lab.connect(
                primary.conninfo.with(
                    "host", URL(fileURLWithPath: primary.dataDirectory).deletingLastPathComponent().path))
            defer { writer.close() }
            let reader = try await lab.connect(standby.conninfo)
            defer { reader.close() }
            _ = try await writer.query("CREATE TABLE t (v int)", timeout: .seconds(5))
            try await waitUntil(.seconds(10)) {
                try await reader.query("SELECT to_regclass('t') IS NOT NULL", timeout: .seconds(5)).scalar == "t"
            }
            let sender = try await writer.query(
                "SELECT host(client_addr), state FROM pg_stat_replication", timeout: .seconds(5))
            #expect(sender.rows.first?[0] == host.hostAddress)

            try await host.cut()
            // Written through the unix socket while the link is cut: the standby cannot have it.
            _ = try await writer.query("INSERT INTO t VALUES (1)", timeout: .seconds(5))
            try await Task.sleep(for: .seconds(2))
            #expect(try await reader.query("SELECT count(*)::text FROM t", timeout: .seconds(5)).scalar == "0")
            let during = try await reader.query("SELECT status FROM pg_stat_wal_receiver", timeout: .seconds(5))

            let clock = ContinuousClock()
            let restored = clock.now
            try await host.restore()
            try await waitUntil(.seconds(20)) {
                try await reader.query("SELECT count(*)::text FROM t", timeout: .seconds(5)).scalar == "1"
            }
            let resumedAfter = clock.now - restored
            print(
                "standby across a 2 s cut: wal receiver \(during.scalar ?? "?") during the cut, caught up \(ms(resumedAfter)) after restore"
            )
        }
    }
}

// MARK: helpers

private func withLab(_ body: (Lab) async throws -> Void) async throws {
    let lab = try Lab()
    var failure: (any Error)?
    do {
        try await body(lab)
    } catch {
        failure = error
    }
    await lab.shutdown()
    if let failure { throw failure }
    try expectNothingLeft(lab)
}

private func withNetworkScenario(
    engine: DatabaseConfig.EngineKind,
    _ body: (LabScenario, LabNetworkHost) async throws -> Void
) async throws {
    let scenario = try await LabScenario.start(engine: engine, changeovers: 1, networkHost: true)
    var failure: (any Error)?
    do {
        let host = try #require(scenario.networkHost)
        #expect(scenario.primary.host == host.address)
        try await body(scenario, host)
    } catch {
        failure = error
    }
    _ = await scenario.writer.stop()
    await scenario.lab.shutdown()
    if let failure { throw failure }
    try expectNothingLeft(scenario.lab)
    #expect(try await !namespaces().contains(scenario.networkHost?.name ?? "?"))
}

private func waitUntil(_ timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else { throw LabError("condition not met within \(timeout)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

private func ms(_ duration: Duration) -> String { String(format: "%.0f ms", duration.milliseconds) }

private func ip(_ arguments: [String]) async throws {
    let outcome = try await Subprocess.run([LabNetworkHost.ipTool] + arguments, timeout: .seconds(10))
    guard outcome.succeeded else { throw LabError("ip \(arguments.joined(separator: " ")): \(outcome.lastErrorLine)") }
}

/// The names `ip netns list` shows.
private func namespaces() async throws -> [String] {
    let outcome = try await Subprocess.run([LabNetworkHost.ipTool, "netns", "list"], timeout: .seconds(10))
    return outcome.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
}

/// Whether a TCP connect from inside `host`'s namespace to `address:port` succeeds within 1 s.
private func reaches(from host: LabNetworkHost, _ address: String, port: Int) async throws -> Bool {
    let outcome = try await Subprocess.run(
        host.argv(["timeout", "1", "bash", "-c", "exec 3<>/dev/tcp/\(address)/\(port)"]), timeout: .seconds(5))
    return outcome.succeeded
}

/// A TCP socket listening on `host` (connections complete in its backlog; none is accepted).
private final class Listener: Sendable {
    let fd: Int32
    let port: Int

    init(host: String) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, host, &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else {
            Glibc.close(fd)
            throw LabError("cannot listen on \(host)")
        }
        self.fd = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    func close() { Glibc.close(fd) }
}
