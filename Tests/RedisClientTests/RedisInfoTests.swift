import RedisClient
import Testing

@Suite
struct RedisInfoTests {
    static let sample = """
        # Server\r
        redis_version:7.0.15\r
        executable:/usr/bin/redis-server\r
        \r
        # Replication\r
        role:master\r
        connected_slaves:2\r
        slave1:ip=10.0.0.3,port=6381,state=wait_bgsave,offset=0,lag=0\r
        slave0:ip=10.0.0.2,port=6380,state=online,offset=1234,lag=1\r
        slave_read_only:1\r
        master_repl_offset:1234\r
        \r
        # Keyspace\r
        db0:keys=1,expires=0,avg_ttl=0\r

        """

    @Test func valuesAreKeyedWithAndWithoutTheirSection() {
        let info = RedisInfo(parsing: Self.sample)
        #expect(info["master_repl_offset"] == "1234")
        #expect(info["replication master_repl_offset"] == "1234")
        #expect(info["server redis_version"] == "7.0.15")
        #expect(info["executable"] == "/usr/bin/redis-server")
        #expect(info["keyspace db0"] == "keys=1,expires=0,avg_ttl=0")
        #expect(info.integer("master_repl_offset") == 1234)
        #expect(info.integer("role") == nil)
        #expect(info["server role"] == nil)
        #expect(info.values.count == 18)
    }

    @Test func replicasAreParsedInOrderAndOtherSlaveKeysIgnored() {
        let info = RedisInfo(parsing: Self.sample)
        #expect(
            info.replicas == [
                .init(ip: "10.0.0.2", port: 6380, state: "online", offset: 1234, lag: 1),
                .init(ip: "10.0.0.3", port: 6381, state: "wait_bgsave", offset: 0, lag: 0),
            ])
    }

    @Test func versionIsParsedFromRedisVersion() {
        let version = RedisInfo(parsing: Self.sample).version
        #expect(version?.major == 7)
        #expect(version?.minor == 0)
        #expect(version?.patch == 15)
        #expect(RedisInfo(parsing: "redis_version:7.2").version == nil)
        #expect(RedisInfo(parsing: "").version == nil)
    }
}
