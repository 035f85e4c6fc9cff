import RedisClient
import Testing

@Suite
struct RedisRoleTests {
    private func bulk(_ text: String) -> RedisReply { .bulk(Array(text.utf8)) }

    @Test func masterWithReplicasIsParsed() throws {
        let reply: RedisReply = .array([
            bulk("master"), .integer(3_129_659),
            .array([
                .array([bulk("127.0.0.1"), bulk("9001"), bulk("3129242")]),
                .array([bulk("127.0.0.1"), bulk("9002"), bulk("3129543")]),
            ]),
        ])
        #expect(
            try RedisRole(reply)
                == .master(
                    offset: 3_129_659,
                    replicas: [
                        .init(host: "127.0.0.1", port: 9001, offset: 3_129_242),
                        .init(host: "127.0.0.1", port: 9002, offset: 3_129_543),
                    ]))
    }

    @Test func replicaIsParsed() throws {
        let reply: RedisReply = .array([
            bulk("slave"), bulk("127.0.0.1"), .integer(9000), bulk("connecting"), .integer(-1),
        ])
        #expect(
            try RedisRole(reply)
                == .replica(masterHost: "127.0.0.1", masterPort: 9000, state: "connecting", offset: -1))
    }

    @Test func sentinelIsParsed() throws {
        let reply: RedisReply = .array([bulk("sentinel"), .array([bulk("mymaster")])])
        #expect(try RedisRole(reply) == .sentinel)
    }

    @Test func malformedRepliesThrowProtocolError() {
        let malformed: [RedisReply] = [
            .null, .status("OK"), .array([]), .array([bulk("leader")]),
            .array([bulk("master"), bulk("x"), .array([])]),
            .array([bulk("slave"), bulk("h"), .integer(1), bulk("connected")]),
            .array([bulk("master"), .integer(1), .array([.array([bulk("h"), bulk("port")])])]),
        ]
        for reply in malformed {
            let error = #expect(throws: RedisError.self) { try RedisRole(reply) }
            #expect(error?.code == .protocolError, "\(reply)")
        }
        let error = #expect(throws: RedisError.self) { try RedisRole(.error("ERR unknown")) }
        #expect(error?.code == .serverError)
        #expect(error?.message == "ERR unknown")
    }
}
