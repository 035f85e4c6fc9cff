import Foundation
import Testing

@testable import ChangeoverCore

/// The config's scheduling:, daemon: and schedule: sections and one-off windows.
@Suite struct SchedulingConfigTests {
    static let base = """
        provisioner: {root: /tmp/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=5432 user=postgres"
            windows: ["Sundays 22:00 Europe/Berlin"]
            oneOffWindows: ["2026-05-01T22:00:00+02:00 for 90s", "2026-05-02T10:00:00Z..2026-05-02T12:00:00Z"]
        """

    @Test func parsesTheSchedulingSections() throws {
        let config = try FleetConfig.parse(
            Self.base + """

                scheduling: {switchoverEstimate: 2m, margin: 30s, throughput: 40MB/s, minimumLead: 5m, defaultLead: 1h, recheckEvery: 10s}
                daemon: {listen: "127.0.0.1:9911", tokenEnv: MY_TOKEN, concurrency: 3, tick: 500ms}
                schedule:
                  - {database: orders, image: pg15-patched, deadline: "2026-06-01T00:00:00Z"}
                """)
        #expect(config.scheduling.switchoverEstimate == .seconds(120))
        #expect(config.scheduling.margin == .seconds(30))
        #expect(config.scheduling.throughput == 40 << 20)
        #expect(config.scheduling.minimumLead == .seconds(300))
        #expect(config.scheduling.recheckEvery == .seconds(10))
        #expect(config.daemon?.port == 9911 && config.daemon?.tokenEnvironment == "MY_TOKEN")
        #expect(config.daemon?.concurrency == 3 && config.daemon?.tick == .milliseconds(500))
        #expect(
            config.scheduled == [
                ScheduledChangeover(database: "orders", image: "pg15-patched", deadline: utc("2026-06-01T00:00:00Z"))
            ])
        let orders = try config.database("orders")
        #expect(
            orders.oneOffWindows == [
                WindowOpening(start: utc("2026-05-01T20:00:00Z"), end: utc("2026-05-01T20:01:30Z")),
                WindowOpening(start: utc("2026-05-02T10:00:00Z"), end: utc("2026-05-02T12:00:00Z")),
            ])
        #expect(config.schedule(for: orders).oneOff.count == 2)
    }

    @Test func defaultsWithoutTheSections() throws {
        let config = try FleetConfig.parse(Self.base)
        #expect(config.scheduling == SchedulingPolicy())
        #expect(config.daemon == nil)
        #expect(config.scheduled.isEmpty)
    }

    @Test(arguments: [
        ("daemon: {listen: \"0.0.0.0:80\"}", "not a loopback address"),
        ("daemon: {listen: \"127.0.0.1\"}", "is not host:port"),
        ("daemon: {tokenEnv: \"A-B\"}", "not an environment variable name"),
        ("daemon: {concurrency: 0}", "daemon.concurrency must be 1…64"),
        ("scheduling: {margin: soon}", "scheduling.margin: \"soon\" is not a duration"),
        ("schedule: [{database: nope, image: pg15-patched}]", "schedule[0]: unknown database \"nope\""),
        ("schedule: [{database: orders, image: pg16}]", "schedule[0]: unknown image \"pg16\""),
        (
            "schedule: [{database: orders, image: pg15-patched, deadline: tomorrow}]",
            "\"tomorrow\" is not an ISO 8601 instant"
        ),
    ])
    func badSectionsAreNamed(_ section: String, _ message: String) {
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(Self.base + "\n" + section) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test(arguments: [
        ("2026-05-01 22:00 for 1h", "is not an ISO 8601 instant"),
        ("2026-05-01T22:00:00Z", "is not a one-off window"),
        ("2026-05-01T22:00:00Z..2026-05-01T21:00:00Z", "ends before it starts"),
        ("2026-05-01T22:00:00Z for ever", "is not a duration"),
    ])
    func badOneOffWindowsAreNamed(_ window: String, _ message: String) {
        let text = Self.base.replacingOccurrences(
            of:
                "oneOffWindows: [\"2026-05-01T22:00:00+02:00 for 90s\", \"2026-05-02T10:00:00Z..2026-05-02T12:00:00Z\"]",
            with: "oneOffWindows: [\"\(window)\"]")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.description.contains("database orders, oneOffWindows") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }
}
