import Foundation
import Testing

@testable import ChangeoverCore

/// A changeover's facts are typed in memory and the same JSON object of strings on disk, so
/// records move between versions in both directions.
@Suite struct ChangeoverFactsTests {
    /// A Postgres changeover as the version before typed facts stored it (a real record of a
    /// run with a window, copied from its SQLite store).
    static let postgresRecord = #"""
        {"database":"orders","facts":{"basebackup.bytes":"40054205","basebackup.seconds":"7.55","catchUp.lagBytes":"0","checkpoint.ms":"57.6","checkpoint.receivedMs":"59.8","controldata.ms":"12.1","final.position":"LSN 0\/3002648","finalLSN":"0\/3002648","follower.dataDirectory":"\/tmp\/chg-Wn3HqJ\/nodes\/orders-20261207-070106-25c2\/data","follower.host":"127.0.0.1","follower.pid":"19131","follower.port":"24635","follower.replayLSN":"0\/30026C0","new.address":"user=postgres dbname=postgres host=127.0.0.1 port=24635","new.host":"127.0.0.1","new.port":"24635","old.address":"user=postgres dbname=postgres host=127.0.0.1 port=25304","old.dataDirectory":"\/tmp\/chg-Wn3HqJ\/primary\/data","old.retireAt":"2026-12-08T07:01:29Z","promote.ms":"125.2","scheduled.by":"schedule by uid 0@vm pid 18746","slot":"changeover_orders_20261207_070106_25c2","slot.released":"true","stop.ms":"148.6","verify.xid":"990","window.decision":"open","window.end":"2026-12-07T07:11:09Z","window.start":"2026-12-07T07:01:28Z","writePause.ms":"388.8"},"fromImage":"pg15","id":"orders-20261207-070106-25c2","machine":{"step":"done"},"policy":{"mode":"window"},"startedAt":"2026-12-07T07:01:06Z","timings":[{"milliseconds":139.040469,"outcome":"succeeded","step":"preflight"},{"milliseconds":9822.82772,"outcome":"succeeded","step":"provision"},{"milliseconds":6410.131684,"outcome":"stopped","step":"catch-up"},{"milliseconds":577.6734839999999,"outcome":"succeeded","step":"catch-up"},{"milliseconds":366.75460300000003,"outcome":"succeeded","step":"await-window"},{"milliseconds":220.955821,"outcome":"succeeded","step":"fence"},{"milliseconds":22.370006,"outcome":"succeeded","step":"final-sync"},{"milliseconds":125.77147799999999,"outcome":"succeeded","step":"promote"},{"milliseconds":16.162677,"outcome":"succeeded","step":"repoint"},{"milliseconds":88.64612299999999,"outcome":"succeeded","step":"verify"},{"milliseconds":33.693389999999994,"outcome":"succeeded","step":"settle"}],"toImage":"pg15-patched","updatedAt":"2026-12-07T07:01:29Z"}
        """#

    /// A Redis changeover as the version before typed facts stored it.
    static let redisRecord = #"""
        {"database":"orders","facts":{"catchUp.lagBytes":"0","final.position":"offset 5217","finalOffset":"5217","follower.aclUsers":"1","follower.host":"127.0.0.1","follower.node":"\/tmp\/chg-w6X6NK\/nodes\/orders-20261207-070108-ab92","follower.offset":"5217","follower.pid":"18941","follower.port":"22660","new.address":"redis:\/\/127.0.0.1:22660","new.host":"127.0.0.1","new.port":"22660","old.address":"redis:\/\/127.0.0.1:31399","old.configFile":"\/tmp\/chg-w6X6NK\/redis-primary\/redis.conf","old.pid":"18215","old.retired":"true","old.role":"replica of 127.0.0.1:22660","paused":"false","pausedUntil":"1796627015659","verify.key":"changeover:verify:orders-20261207-070108-ab92","window.decision":"now","writePause.ms":"757.8"},"fromImage":"redis7","id":"orders-20261207-070108-ab92","machine":{"step":"done"},"policy":{"mode":"now"},"startedAt":"2026-12-07T07:01:08Z","timings":[{"milliseconds":733.1542119999999,"outcome":"succeeded","step":"preflight"},{"milliseconds":1687.3867129999999,"outcome":"succeeded","step":"provision"},{"milliseconds":13854.773913,"outcome":"succeeded","step":"catch-up"},{"milliseconds":0.030097,"outcome":"succeeded","step":"await-window"},{"milliseconds":55.999055999999996,"outcome":"succeeded","step":"fence"},{"milliseconds":34.835331,"outcome":"succeeded","step":"final-sync"},{"milliseconds":54.653372,"outcome":"succeeded","step":"promote"},{"milliseconds":589.341102,"outcome":"succeeded","step":"repoint"},{"milliseconds":55.562478,"outcome":"succeeded","step":"verify"},{"milliseconds":325.943778,"outcome":"succeeded","step":"settle"}],"toImage":"redis7-patched","updatedAt":"2026-12-07T07:01:26Z"}
        """#

    static func decode(_ json: String) throws -> ChangeoverRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(ChangeoverRecord.self, from: Data(json.utf8))
    }

    @Test func aPostgresRecordOfTheEarlierVersionLoadsTyped() throws {
        let facts = try Self.decode(Self.postgresRecord).facts
        #expect(facts.followerHost == "127.0.0.1")
        #expect(facts.followerPort == 24635)
        #expect(facts.newPort == 24635)
        #expect(facts.slot == "changeover_orders_20261207_070106_25c2")
        #expect(facts.slotReleased == true)
        #expect(facts.finalLSN == "0/3002648")
        #expect(facts.finalPosition == "LSN 0/3002648")
        #expect(facts.writePauseMilliseconds == 388.8)
        #expect(facts.stopMilliseconds == 148.6)
        #expect(facts.basebackupBytes == 40_054_205)
        #expect(facts.basebackupSeconds == 7.55)
        #expect(facts.catchUpLagBytes == 0)
        #expect(facts.oldDataDirectory == "/tmp/chg-Wn3HqJ/primary/data")
        #expect(facts.oldRetireAt == Date(timeIntervalSince1970: 1_796_713_289))
        #expect(facts.oldRetired == nil)
        #expect(facts.windowDecision == "open")
        #expect(
            facts.window
                == WindowOpening(
                    start: Date(timeIntervalSince1970: 1_796_626_888), end: Date(timeIntervalSince1970: 1_796_627_469)))
        // Keys no property names are kept as they were.
        #expect(facts["scheduled.by"] == "schedule by uid 0@vm pid 18746")
        #expect(facts["follower.pid"] == "19131")
    }

    @Test func aRedisRecordOfTheEarlierVersionLoadsTyped() throws {
        let facts = try Self.decode(Self.redisRecord).facts
        #expect(facts.followerPort == 22660)
        #expect(facts.followerOffset == 5217)
        #expect(facts.finalOffset == 5217)
        #expect(facts.followerACLUsers == 1)
        #expect(facts.paused == false)
        #expect(facts.pausedUntilMilliseconds == 1_796_627_015_659)
        #expect(facts.oldRetired == true)
        #expect(facts.oldPID == 18215)
        #expect(facts.oldConfigFile == "/tmp/chg-w6X6NK/redis-primary/redis.conf")
        #expect(facts["follower.node"] == "/tmp/chg-w6X6NK/nodes/orders-20261207-070108-ab92")
    }

    @Test func recordsAreWrittenBackByteForByte() throws {
        for json in [Self.postgresRecord, Self.redisRecord] {
            #expect(try SQLiteStateStorage.encode(try Self.decode(json)) == json)
        }
    }

    @Test func typedFactsAreWrittenInTheFormEarlierVersionsRead() throws {
        var facts = ChangeoverFacts()
        facts.followerHost = "10.0.0.7"
        facts.followerPort = 5433
        facts.slotReleased = true
        facts.paused = false
        facts.writePauseMilliseconds = 66.04
        facts.basebackupSeconds = 3.7
        facts.pausedUntilMilliseconds = 1_796_627_015_659
        facts.oldRetireAt = Date(timeIntervalSince1970: 1_796_713_289)
        let json = try SQLiteStateStorage.encode(facts)
        #expect(
            json
                == #"{"basebackup.seconds":"3.70","follower.host":"10.0.0.7","follower.port":"5433","old.retireAt":"2026-12-08T07:01:29Z","paused":"false","pausedUntil":"1796627015659","slot.released":"true","writePause.ms":"66.0"}"#
        )
        // What the earlier version decoded: a JSON object of strings.
        let earlier = try JSONDecoder().decode([String: String].self, from: Data(json.utf8))
        #expect(earlier["follower.port"] == "5433")
        #expect(earlier.count == 8)
        // Setting nil removes the fact.
        facts.followerPort = nil
        #expect(facts["follower.port"] == nil)
    }

    @Test func aWindowIsStoredAsItsTwoTimes() throws {
        var facts = ChangeoverFacts()
        facts.window = WindowOpening(
            start: Date(timeIntervalSince1970: 1_796_626_888), end: Date(timeIntervalSince1970: 1_796_627_469))
        #expect(facts["window.start"] == "2026-12-07T07:01:28Z")
        #expect(facts["window.end"] == "2026-12-07T07:11:09Z")
        facts["window.end"] = nil
        #expect(facts.window == nil)
    }

    @Test func factsOfANewerVersionSurviveALoadAndASave() throws {
        let json = Self.redisRecord.replacingOccurrences(
            of: #""catchUp.lagBytes":"0","#, with: #""catchUp.lagBytes":"0","catchUp.newerFigure":"42","#)
        var record = try Self.decode(json)
        record.facts.verifyKey = "changeover:verify:again"
        let written = try SQLiteStateStorage.encode(record)
        #expect(written.contains(#""catchUp.newerFigure":"42""#))
        #expect(try Self.decode(written).facts["catchUp.newerFigure"] == "42")
    }

    @Test func aFactWhoseTextIsNotItsTypeIsKeptAsText() throws {
        let facts = try JSONDecoder().decode(
            ChangeoverFacts.self, from: Data(#"{"follower.port":"a port","slot.released":"yes"}"#.utf8))
        #expect(facts.followerPort == nil)
        #expect(facts.slotReleased == nil)
        #expect(try SQLiteStateStorage.encode(facts) == #"{"follower.port":"a port","slot.released":"yes"}"#)
    }
}
