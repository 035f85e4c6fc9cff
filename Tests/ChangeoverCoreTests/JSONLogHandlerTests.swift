import Foundation
import Logging
import Synchronization
import Testing

@testable import ChangeoverCore

@Suite struct JSONLogHandlerTests {
    /// The lines a logger with this handler writes.
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
        func append(_ line: String) { lines.withLock { $0.append(line) } }
        var all: [String] { lines.withLock { $0 } }
    }

    @Test func aLineCarriesTheChangeoverTheDatabaseAndTheStepAndHidesSecrets() throws {
        let written = Lines()
        var logger = Logger(label: "test") { _ in JSONLogHandler(write: written.append) }
        logger.logLevel = .debug
        logger[metadataKey: "db.name"] = "orders"
        logger.info(
            "step started",
            metadata: [
                "changeover.id": "orders-1", "changeover.step": "fence", "step.ms": "1.5",
                "daemon.token": "s3cret", "replication.password": "hunter2",
            ])
        logger.debug("progress with \"quotes\"\nand a newline")
        let lines = written.all
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { !$0.contains("\n") })
        let first = try JSONDecoder().decode(JSONLogHandler.Line.self, from: Data(lines[0].utf8))
        #expect(first.level == "info")
        #expect(first.changeover == "orders-1" && first.database == "orders" && first.step == "fence")
        #expect(first.message == "step started")
        #expect(
            first.metadata == ["step.ms": "1.5", "daemon.token": "(redacted)", "replication.password": "(redacted)"])
        #expect(!lines[0].contains("s3cret") && !lines[0].contains("hunter2"))
        let second = try JSONDecoder().decode(JSONLogHandler.Line.self, from: Data(lines[1].utf8))
        #expect(second.message == "progress with \"quotes\"\nand a newline")
        #expect(
            second.level == "debug" && second.changeover == nil && second.database == "orders" && second.metadata == nil
        )
        let time = try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(second.time)
        #expect(abs(time.timeIntervalSinceNow) < 60)
    }

    @Test func aPasswordInsideAnotherValueIsMaskedAndOnlyThere() {
        let values = JSONLogHandler.redacted([
            "primary": "host=db1 port=5432 password='hunter 2' dbname=app",
            "store": "postgres://changeover:s3cret@db2/state",
            "lease.token": "42", "follower.port": "5433",
        ])
        #expect(values["primary"] == "host=db1 port=5432 password=******** dbname=app")
        #expect(values["store"] == "postgres://changeover:********@db2/state")
        #expect(values["lease.token"] == "(redacted)")
        #expect(values["follower.port"] == "5433")
    }
}
