import ChangeoverLab
import Foundation
import PostgresClient
import Testing

@Suite(.serialized, .runningPostgres)
struct PostgresConnectionTests {
    let server = SuitePostgres.shared!

    private func connectApp() async throws -> PostgresConnection {
        try await PostgresConnection.connect(server.app, timeout: .seconds(5))
    }

    @Test func queryBindsParametersIncludingNullAndQuotes() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        #expect(connection.isOpen)
        #expect(connection.serverVersion >= 150000)
        #expect(connection.endpoint == "127.0.0.1:\(server.port)")
        let quoted = #"it's "quoted" \ and ; DROP"#
        let result = try await connection.query(
            "SELECT $1::text AS a, $2::text AS b, $3::int + 1 AS c", [quoted, nil, "41"], timeout: .seconds(5))
        #expect(result.columns == ["a", "b", "c"])
        #expect(result.rows.count == 1)
        #expect(result.value(0, "a") == quoted)
        #expect(result.rows[0][1] == nil)
        #expect(result.value(0, "c") == "42")
        #expect(result.scalar == quoted)
        #expect(result.commandTag == "SELECT 1")
        #expect(result.affectedRows == 1)
        #expect(try await connection.query("SELECT current_user", timeout: .seconds(5)).scalar == "app")
    }

    @Test func uniqueViolationCarriesSQLState23505() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        _ = try await connection.query("CREATE TEMP TABLE t (id int PRIMARY KEY)", timeout: .seconds(5))
        let inserted = try await connection.query("INSERT INTO t VALUES ($1)", ["1"], timeout: .seconds(5))
        #expect(inserted.commandTag == "INSERT 0 1")
        #expect(inserted.affectedRows == 1)
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("INSERT INTO t VALUES ($1)", ["1"], timeout: .seconds(5))
        }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "23505")
        #expect(error?.message.contains("duplicate key") == true)
        #expect(connection.isOpen)
    }

    @Test func syntaxErrorCarriesSQLState42601() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELEC 1", timeout: .seconds(5))
        }
        #expect(error?.code == .queryFailed)
        #expect(error?.sqlState == "42601")
        #expect(error?.description.contains("(SQLSTATE 42601)") == true)
        #expect(try await connection.query("SELECT 1", timeout: .seconds(5)).scalar == "1")
    }

    @Test func wrongPasswordIsAuthenticationFailedWithoutThePassword() async throws {
        let secret = "Wrong-Secret-7731"
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(server.app.with("password", secret), timeout: .seconds(5))
        }
        #expect(error?.code == .authenticationFailed)
        #expect(error?.sqlState == "28P01")
        #expect(error?.endpoint == "127.0.0.1:\(server.port)")
        #expect(error?.message.contains("password authentication failed") == true)
        #expect(error?.description.contains(secret) == false)
        #expect(error?.description.contains("password=") == false)
    }

    @Test func refusedPortFailsFastWithConnectionFailed() async throws {
        let port = try freePort()
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(server.app.with("port", "\(port)"), timeout: .seconds(5))
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.endpoint == "127.0.0.1:\(port)")
        // Well before the 5 s timeout: a refusal is not waited out (a loaded machine stretches it).
        #expect(ContinuousClock.now - started < .seconds(4))
        #expect(error?.description.contains(LabPostgres.appPassword) == false)
    }

    @Test func connectToSilentListenerTimesOut() async throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, $0, &length) == 0
            }
        }
        try #require(ready)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            try await PostgresConnection.connect(server.app.with("port", "\(port)"), timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout)
        // The listener never answers, so only the 300 ms timeout ends the wait; the upper bound
        // is wide because a loaded machine stretches it (1.04 s was seen).
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(250))
        #expect(waited < .seconds(5))
    }

    @Test func queryTimeoutCancelsAndKeepsConnectionUsable() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        let started = ContinuousClock.now
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELECT pg_sleep(10)", timeout: .milliseconds(200))
        }
        let elapsed = ContinuousClock.now - started
        #expect(error?.code == .timeout)
        #expect(elapsed >= .milliseconds(200))
        #expect(elapsed < .seconds(5), "well before the 10 s sleep")
        #expect(connection.isOpen)
        #expect(try await connection.query("SELECT 1", timeout: .seconds(5)).scalar == "1")
        let sleeping = try await connection.query(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep(10)'",
            timeout: .seconds(5))
        #expect(sleeping.scalar == "0")
    }

    @Test func taskCancellationCancelsTheQuery() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        let started = ContinuousClock.now
        let task = Task {
            try await connection.query("SELECT pg_sleep(10)", timeout: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let error = await #expect(throws: PostgresError.self) { try await task.value }
        #expect(error?.code == .cancelled)
        #expect(ContinuousClock.now - started < .seconds(5), "well before the 10 s sleep")
        #expect(try await connection.query("SELECT 2", timeout: .seconds(5)).scalar == "2")
    }

    @Test func sixConcurrentSleepsDoNotBlockTheCooperativePool() async throws {
        var connections: [PostgresConnection] = []
        defer { for connection in connections { connection.close() } }
        for _ in 0..<6 {
            connections.append(try await connectApp())
        }
        let started = ContinuousClock.now
        let all = connections
        async let sleeps: Void = withThrowingTaskGroup(of: Void.self) { group in
            for connection in all {
                group.addTask {
                    _ = try await connection.query("SELECT pg_sleep(4)", timeout: .seconds(15))
                }
            }
            try await group.waitForAll()
        }
        // While the six queries sleep, the cooperative pool must stay free: this task's own
        // sleep resumes on it. Were the queries blocking its 2 threads, it could resume only
        // after 4 s. (Their total time says nothing: a loaded machine stretches it.)
        try await Task.sleep(for: .milliseconds(100))
        let poolFreeAfter = ContinuousClock.now - started
        try await sleeps
        #expect(ContinuousClock.now - started >= .milliseconds(4000))
        #expect(poolFreeAfter < .seconds(3), "the cooperative pool was blocked for \(poolFreeAfter)")
    }

    @Test func simpleQueryReturnsOneResultPerStatement() async throws {
        let connection = try await connectApp()
        defer { connection.close() }
        let results = try await connection.simpleQuery(
            "SELECT 1 AS one; SELECT 'x' AS two, NULL AS three", timeout: .seconds(5))
        #expect(results.count == 2)
        #expect(results.first?.value(0, "one") == "1")
        #expect(results.last?.value(0, "two") == "x")
        #expect(results.last?.rows.first?[1] == nil)
        let error = await #expect(throws: PostgresError.self) {
            try await connection.simpleQuery("SELECT 1; SELECT 1/0", timeout: .seconds(5))
        }
        #expect(error?.sqlState == "22012")
    }

    @Test func replicationConnectionRunsIdentifySystem() async throws {
        let connection = try await PostgresConnection.connect(
            server.app.with("replication", "true"), timeout: .seconds(5))
        defer { connection.close() }
        let results = try await connection.simpleQuery("IDENTIFY_SYSTEM", timeout: .seconds(5))
        #expect(results.count == 1)
        let row = try #require(results.first)
        #expect(row.columns == ["systemid", "timeline", "xlogpos", "dbname"])
        #expect(row.value(0, "timeline") == "1")
        #expect(row.value(0, "systemid")?.isEmpty == false)
        #expect(row.value(0, "xlogpos")?.contains("/") == true)
    }

    @Test func closeIsIdempotentAndLaterCallsThrowConnectionClosed() async throws {
        let connection = try await connectApp()
        connection.close()
        connection.close()
        #expect(!connection.isOpen)
        let error = await #expect(throws: PostgresError.self) {
            try await connection.query("SELECT 1", timeout: .seconds(5))
        }
        #expect(error?.code == .connectionClosed)
    }

    @Test func stoppedServerGivesConnectionClosed() async throws {
        let own = try await LabPostgres.start()
        do {
            let connection = try await PostgresConnection.connect(own.app, timeout: .seconds(5))
            defer { connection.close() }
            #expect(try await connection.query("SELECT 1", timeout: .seconds(5)).scalar == "1")
            await own.stop()
            let error = await #expect(throws: PostgresError.self) {
                try await connection.query("SELECT 1", timeout: .seconds(5))
            }
            #expect(error?.code == .connectionClosed)
            #expect(!connection.isOpen)
            let again = await #expect(throws: PostgresError.self) {
                try await connection.simpleQuery("SELECT 1", timeout: .seconds(5))
            }
            #expect(again?.code == .connectionClosed)
        } catch {
            await own.stop()
            throw error
        }
    }
}
