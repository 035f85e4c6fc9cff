import ChangeoverLab
import Foundation
import RedisClient
import Testing

@Suite(.serialized)
struct RedisConnectionTests {
    let timeout: Duration = .seconds(2)

    @Test func binaryValuesWithZeroBytesAndInvalidUTF8RoundTrip() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            let key: [UInt8] = [0x6B, 0x00, 0xFF]
            let value: [UInt8] = [0x00, 0xC3, 0x28, 0x00, 0xFF, 0xFE, 0x41, 0x00]
            let set = try await connection.command(
                bytes: [Array("SET".utf8), key, value], timeout: timeout)
            #expect(set == .status("OK"))
            let get = try await connection.command(bytes: [Array("GET".utf8), key], timeout: timeout)
            #expect(get == .bulk(value))
            #expect(get.string == nil)  // not valid UTF-8
            let length = try await connection.command(
                bytes: [Array("STRLEN".utf8), key], timeout: timeout)
            #expect(length == .integer(Int64(value.count)))
        }
    }

    @Test func incrReturnsIntegers() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            #expect(try await connection.command(["INCR", "counter"], timeout: timeout) == .integer(1))
            let second = try await connection.command(["INCRBY", "counter", "41"], timeout: timeout)
            #expect(second == .integer(42))
            #expect(second.string == "42")
            let text = try await connection.command(["GET", "counter"], timeout: timeout)
            #expect(text == .bulk(Array("42".utf8)))
            #expect(text.integer == 42)
        }
    }

    @Test func missingKeyIsNull() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            let reply = try await connection.command(["GET", "no-such-key"], timeout: timeout)
            #expect(reply == .null)
            #expect(reply.string == nil)
        }
    }

    @Test func lrangeReturnsAnArrayOfBulkStrings() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            let pushed = try await connection.command(["RPUSH", "list", "a", "", "c"], timeout: timeout)
            #expect(pushed == .integer(3))
            let reply = try await connection.command(["LRANGE", "list", "0", "-1"], timeout: timeout)
            #expect(reply == .array([.bulk(Array("a".utf8)), .bulk([]), .bulk(Array("c".utf8))]))
            #expect(reply.array?.compactMap(\.string) == ["a", "", "c"])
            let empty = try await connection.command(["LRANGE", "none", "0", "-1"], timeout: timeout)
            #expect(empty == .array([]))
        }
    }

    @Test func errorReplyThrowsServerErrorWithTheServersMessageAndKeepsTheConnection() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            _ = try await connection.command(["SET", "text", "abc"], timeout: timeout)
            let error = await #expect(throws: RedisError.self) {
                try await connection.command(["INCR", "text"], timeout: timeout)
            }
            #expect(error?.code == .serverError)
            #expect(error?.message == "ERR value is not an integer or out of range")
            #expect(error?.endpoint == server.endpoint.description)
            #expect(connection.isOpen)
            #expect(try await connection.command(["PING"], timeout: timeout) == .status("PONG"))
        }
    }

    @Test func execKeepsNestedErrorsAsValues() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            _ = try await connection.command(["MULTI"], timeout: timeout)
            _ = try await connection.command(["SET", "text", "abc"], timeout: timeout)
            _ = try await connection.command(["INCR", "text"], timeout: timeout)
            let reply = try await connection.command(["EXEC"], timeout: timeout)
            #expect(
                reply == .array([.status("OK"), .error("ERR value is not an integer or out of range")]))
        }
    }

    @Test func requirepassServerAcceptsTheRightPassword() async throws {
        try await LabRedis.with([("requirepass", "s3cret-pass")]) { server in
            var endpoint = server.endpoint
            endpoint.password = "s3cret-pass"
            let connection = try await RedisConnection.connect(endpoint, timeout: timeout)
            defer { connection.close() }
            #expect(try await connection.command(["PING"], timeout: timeout) == .status("PONG"))
            #expect(!endpoint.description.contains("s3cret"))

            let anonymous = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { anonymous.close() }
            let error = await #expect(throws: RedisError.self) {
                try await anonymous.command(["GET", "x"], timeout: timeout)
            }
            #expect(error?.code == .serverError)
            #expect(error?.message.hasPrefix("NOAUTH") == true)
        }
    }

    @Test func wrongPasswordFailsAuthenticationWithoutLeakingIt() async throws {
        try await LabRedis.with([("requirepass", "s3cret-pass")]) { server in
            var endpoint = server.endpoint
            endpoint.password = "wrong-pass-4711"
            let error = await #expect(throws: RedisError.self) {
                try await RedisConnection.connect(endpoint, timeout: timeout)
            }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.message.hasPrefix("WRONGPASS") == true)
            #expect(error?.endpoint == "127.0.0.1:\(server.port)")
            let description = error.map(String.init(describing:)) ?? ""
            #expect(description.hasPrefix("authentication failed at 127.0.0.1:\(server.port): WRONGPASS"))
            #expect(!description.contains("wrong-pass-4711"))
            #expect(!description.contains("s3cret-pass"))
        }
    }

    @Test func aclUserAuthenticatesWithUserAndPassword() async throws {
        try await LabRedis.with { server in
            let admin = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { admin.close() }
            let created = try await admin.command(
                ["ACL", "SETUSER", "changeover", "on", ">user-pass", "~*", "+@all"], timeout: timeout)
            #expect(created == .status("OK"))

            let endpoint = RedisEndpoint(
                host: "127.0.0.1", port: server.port, user: "changeover", password: "user-pass")
            let connection = try await RedisConnection.connect(endpoint, timeout: timeout)
            defer { connection.close() }
            let whoami = try await connection.command(["ACL", "WHOAMI"], timeout: timeout)
            #expect(whoami.string == "changeover")

            var wrong = endpoint
            wrong.password = "not-the-user-pass"
            let error = await #expect(throws: RedisError.self) {
                try await RedisConnection.connect(wrong, timeout: timeout)
            }
            #expect(error?.code == .authenticationFailed)
            #expect(error.map(String.init(describing:))?.contains("not-the-user-pass") == false)
        }
    }

    @Test func refusedPortFailsQuicklyWithConnectionFailed() async throws {
        let port = try freeLoopbackPort()
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: RedisError.self) {
            try await RedisConnection.connect(
                RedisEndpoint(host: "127.0.0.1", port: port, password: "p"), timeout: .seconds(5))
        }
        // Well before the 5 s timeout: a refusal is not waited out (a loaded machine stretches it).
        #expect(clock.now - start < .seconds(4))
        #expect(error?.code == .connectionFailed)
        #expect(error?.endpoint == "127.0.0.1:\(port)")
        #expect(error?.message.isEmpty == false)
    }

    @Test func commandOnPausedServerTimesOutAtItsDeadlineAndClosesTheConnection() async throws {
        try await LabRedis.with { server in
            let pauser = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { pauser.close() }
            let victim = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { victim.close() }
            #expect(try await victim.command(["PING"], timeout: timeout) == .status("PONG"))
            _ = try await pauser.command(["CLIENT", "PAUSE", "10000", "ALL"], timeout: timeout)

            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: RedisError.self) {
                try await victim.command(["GET", "x"], timeout: .milliseconds(200))
            }
            let elapsed = clock.now - start
            #expect(error?.code == .timeout)
            #expect(elapsed >= .milliseconds(150))
            #expect(elapsed < .seconds(5), "well before the 10 s pause ends")
            #expect(!victim.isOpen)
            let again = await #expect(throws: RedisError.self) {
                try await victim.command(["PING"], timeout: timeout)
            }
            #expect(again?.code == .connectionClosed)
        }
    }

    /// The cooperative pool has 2 threads here: six blocking calls on it would take 12 s.
    /// `BLPOP … 4` blocks each client for 4 s without blocking the server (unlike
    /// `DEBUG SLEEP`, which would stall the single-threaded server and serialise all six).
    @Test func sixBlockingCommandsRunConcurrentlyOffTheCooperativePool() async throws {
        try await LabRedis.with { server in
            var connections: [RedisConnection] = []
            for _ in 0..<6 {
                connections.append(try await RedisConnection.connect(server.endpoint, timeout: timeout))
            }
            defer { for connection in connections { connection.close() } }
            let clock = ContinuousClock()
            let start = clock.now
            let all = connections
            async let replies = withThrowingTaskGroup(of: RedisReply.self) { group in
                for (index, connection) in all.enumerated() {
                    group.addTask {
                        try await connection.command(["BLPOP", "empty:\(index)", "4"], timeout: .seconds(15))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // While the six calls wait, the cooperative pool must stay free: this task's own
            // sleep resumes on it. Were the calls blocking its 2 threads, it could resume only
            // after 4 s. (Their total time says nothing: a loaded machine stretches it.)
            try await Task.sleep(for: .milliseconds(100))
            let poolFreeAfter = clock.now - start
            let answers = try await replies
            #expect(answers == Array(repeating: .null, count: 6))
            #expect(clock.now - start >= .milliseconds(3950))
            #expect(poolFreeAfter < .seconds(3), "the cooperative pool was blocked for \(poolFreeAfter)")
        }
    }

    @Test func closeIsIdempotentAndLaterCommandsFailWithConnectionClosed() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            #expect(connection.isOpen)
            connection.close()
            connection.close()
            #expect(!connection.isOpen)
            let error = await #expect(throws: RedisError.self) {
                try await connection.command(["PING"], timeout: timeout)
            }
            #expect(error?.code == .connectionClosed)
        }
    }

    @Test func closeAbortsACommandInFlight() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            let clock = ContinuousClock()
            let start = clock.now
            async let reply = connection.command(["BLPOP", "empty", "5"], timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(100))
            connection.close()
            do {
                _ = try await reply
                Issue.record("BLPOP returned although the connection was closed")
            } catch {
                #expect((error as? RedisError)?.code == .connectionClosed)
            }
            // Well before BLPOP's 5 s: the close aborted it (a loaded machine took 1.05 s).
            #expect(clock.now - start < .seconds(4))
        }
    }

    @Test func serverStoppedMidConnectionGivesConnectionClosed() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            #expect(try await connection.command(["PING"], timeout: timeout) == .status("PONG"))
            await server.stop()
            let error = await #expect(throws: RedisError.self) {
                try await connection.command(["PING"], timeout: timeout)
            }
            #expect(error?.code == .connectionClosed)
            #expect(error?.endpoint == server.endpoint.description)
            #expect(!connection.isOpen)
        }
    }
}
