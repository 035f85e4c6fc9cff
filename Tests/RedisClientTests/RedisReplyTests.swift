import RedisClient
import Testing

@Suite
struct RedisReplyTests {
    @Test func stringAccessorCoversStatusValidBulkAndInteger() {
        #expect(RedisReply.status("OK").string == "OK")
        #expect(RedisReply.bulk(Array("héllo".utf8)).string == "héllo")
        #expect(RedisReply.bulk([0xC3, 0x28]).string == nil)
        #expect(RedisReply.integer(-12).string == "-12")
        #expect(RedisReply.error("ERR x").string == nil)
        #expect(RedisReply.null.string == nil)
        #expect(RedisReply.array([]).string == nil)
    }

    @Test func integerAccessorParsesBulkAndStatus() {
        #expect(RedisReply.integer(7).integer == 7)
        #expect(RedisReply.bulk(Array("-42".utf8)).integer == -42)
        #expect(RedisReply.status("12").integer == 12)
        #expect(RedisReply.bulk(Array("4x".utf8)).integer == nil)
        #expect(RedisReply.null.integer == nil)
    }

    @Test func arrayAccessorOnlyForArrays() {
        #expect(RedisReply.array([.null, .integer(1)]).array == [.null, .integer(1)])
        #expect(RedisReply.null.array == nil)
        #expect(RedisReply.bulk([]).array == nil)
    }
}
