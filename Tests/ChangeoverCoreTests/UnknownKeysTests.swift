import Foundation
import Testing

@testable import ChangeoverCore

/// A key no setting reads is an error naming it, its line and the key it is a slip of, at every
/// level of the config; all of a file's are reported at once.
@Suite struct UnknownKeysTests {
    static let base = """
        stateDirectory: /var/lib/changeover
        provisioner:
          root: /var/lib/changeover/nodes
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched:
            binDirectory: /opt/pg15-patched/bin
            environment: {LD_LIBRARY_PATH: /opt/glibc/lib}
        databases:
          orders:
            image: pg15
            primary: "host=10.0.0.5 port=5432 user=app"
            password: {env: ORDERS_PASSWORD}
            labels: {tier: production, team/owner: billing}
            replication: {user: replicator, password: {env: REPL}}
            follower: {port: 6543}
            router: {kind: hook, command: /usr/local/bin/repoint, timeout: 5s}
            catchUp: {maxLagBytes: 8MB, holdFor: 3s}
            switchover: {fenceTimeout: 60s}
            windows: ["sun:22:00-sun:23:30", {day: wednesday, start: "03:30", duration: 90m}]
            freezes: [{first: "2026-12-24", last: "2026-12-26", reason: holidays}]
            notify: {before: [1h], on: [reminder, completed]}
        freezes: ["2026-12-20..2027-01-03"]
        scheduling: {margin: 10m}
        daemon: {listen: "127.0.0.1:9187", tokenEnv: TOKEN}
        schedule:
          - {database: orders, image: pg15-patched, deadline: "2026-12-15T00:00:00Z"}
        notify: {webhook: "http://127.0.0.1:9000/hook", timeout: 10s}
        store: {kind: sqlite, leaseTtl: 15s}
        """

    /// A section, and the misspelling put in it: `original` replaced by `replacement`, which
    /// writes `key` where `suggestion` was meant.
    struct Slip: CustomTestStringConvertible, Sendable {
        var section: String
        var original: String
        var replacement: String
        var key: String
        var suggestion: String?
        var testDescription: String { section }
    }

    static let slips: [Slip] = [
        Slip(
            section: "top", original: "stateDirectory:", replacement: "stateDirectry:", key: "stateDirectry",
            suggestion: "stateDirectory"),
        Slip(
            section: "database", original: "    catchUp:", replacement: "    catchup:", key: "catchup",
            suggestion: "catchUp"),
        Slip(
            section: "database windows", original: "    windows:", replacement: "    windwos:", key: "windwos",
            suggestion: "windows"),
        Slip(
            section: "router", original: "timeout: 5s}", replacement: "timout: 5s}", key: "timout",
            suggestion: "timeout"),
        Slip(
            section: "provisioner", original: "  root:", replacement: "  runAs: postgres\n  rot:", key: "rot",
            suggestion: "root"),
        Slip(
            section: "store", original: "leaseTtl:", replacement: "leaseTTL:", key: "leaseTTL", suggestion: "leaseTtl"),
        Slip(
            section: "daemon", original: "tokenEnv:", replacement: "tokenEnvv:", key: "tokenEnvv",
            suggestion: "tokenEnv"),
        Slip(section: "notify", original: "{webhook:", replacement: "{webhok:", key: "webhok", suggestion: "webhook"),
        Slip(
            section: "database notify", original: "{before:", replacement: "{befor:", key: "befor", suggestion: "before"
        ),
        Slip(section: "scheduling", original: "{margin:", replacement: "{marign:", key: "marign", suggestion: "margin"),
        Slip(section: "catchUp", original: "holdFor:", replacement: "holdFr:", key: "holdFr", suggestion: "holdFor"),
        Slip(
            section: "switchover", original: "fenceTimeout:", replacement: "fenceTimout:", key: "fenceTimout",
            suggestion: "fenceTimeout"),
        Slip(
            section: "follower", original: "{port: 6543}", replacement: "{prot: 6543}", key: "prot", suggestion: "port"),
        Slip(
            section: "images", original: "    environment:", replacement: "    enviroment:", key: "enviroment",
            suggestion: "environment"),
        Slip(
            section: "replication", original: "{user: replicator", replacement: "{usr: replicator", key: "usr",
            suggestion: "user"),
        Slip(
            section: "secret", original: "{env: ORDERS_PASSWORD}", replacement: "{evn: ORDERS_PASSWORD}", key: "evn",
            suggestion: "env"),
        Slip(
            section: "window", original: "duration: 90m", replacement: "durtion: 90m", key: "durtion",
            suggestion: "duration"),
        Slip(
            section: "freeze", original: "reason: holidays", replacement: "Reason: holidays", key: "Reason",
            suggestion: "reason"),
        Slip(
            section: "schedule", original: "deadline:", replacement: "dedline:", key: "dedline", suggestion: "deadline"),
        Slip(
            section: "nothing close", original: "scheduling:", replacement: "zzyzx: 1\nscheduling:", key: "zzyzx",
            suggestion: nil),
    ]

    /// The line `text` has `key:` on, counting from 1.
    static func line(of key: String, in text: String) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let index = lines.firstIndex { $0.contains("\(key):") }!
        return index + 1
    }

    @Test func theBaseConfigLoads() throws {
        let config = try FleetConfig.parse(Self.base, source: "fleet.yaml")
        #expect(try config.database("orders").labels == ["tier": "production", "team/owner": "billing"])
    }

    @Test(arguments: slips)
    func aMisspeltKeyIsAnErrorNamingItsLineAndTheKeyMeant(_ slip: Slip) throws {
        #expect(Self.base.contains(slip.original), "\(slip.section): the base config lacks \(slip.original)")
        let text = Self.base.replacingOccurrences(of: slip.original, with: slip.replacement)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "fleet.yaml") }
        let expected =
            "config fleet.yaml line \(Self.line(of: slip.key, in: text)): \(slip.key): unknown key"
            + (slip.suggestion.map { "; did you mean \($0)?" } ?? "")
        #expect(error?.lines.first == expected, "\(slip.section): \(error?.description ?? "no error")")
    }

    @Test func everyMistakeOfAFileIsReportedAtOnceInTheOrderOfItsLines() throws {
        let text = Self.base
            .replacingOccurrences(of: "    catchUp:", with: "    catchup:")
            .replacingOccurrences(of: "{margin:", with: "{marign:")
            .replacingOccurrences(of: "  root:", with: "  runas: postgres\n  root:")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "fleet.yaml") }
        #expect(
            error?.lines == [
                "config fleet.yaml line 3: runas: unknown key; did you mean runAs?",
                "config fleet.yaml line 19: catchup: unknown key; did you mean catchUp?",
                "config fleet.yaml line 25: marign: unknown key; did you mean margin?",
            ])
    }

    @Test func unknownKeysInEveryDatabaseAreFoundEvenAfterAnotherError() throws {
        // orders (resolved first, in name order) has an image the config lacks: zebra's
        // unknown key is still reported, before that error.
        let zebra =
            "  zebra:\n    image: pg15\n    primary: \"host=10.0.0.6\"\n    windwos: [\"sun:22:00-sun:23:30\"]\n"
        let text = Self.base.replacingOccurrences(of: "    image: pg15\n", with: "    image: pg14\n")
            .replacingOccurrences(of: "databases:\n", with: "databases:\n" + zebra)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "fleet.yaml") }
        let lines = error?.lines ?? []
        #expect(lines.count == 2, "\(lines)")
        #expect(
            lines.first
                == "config fleet.yaml line \(Self.line(of: "windwos", in: text)): windwos: unknown key; did you mean windows?"
        )
        #expect(lines.last?.contains("unknown image \"pg14\"") == true, "\(lines)")
    }

    @Test func aMisspeltRequiredKeyIsNamedBesideTheMissingOne() throws {
        let text = Self.base.replacingOccurrences(of: "    primary:", with: "    primry:")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "fleet.yaml") }
        #expect(error?.lines.first == "config fleet.yaml line 12: primry: unknown key; did you mean primary?")
        #expect(error?.lines.count == 2)
    }

    @Test func mapsOfDataTakeAnyKey() throws {
        let text = Self.base.replacingOccurrences(
            of: "labels: {tier: production, team/owner: billing}",
            with: "labels: {tier: production, catchup: x, windwos: y}")
        #expect(try FleetConfig.parse(text).database("orders").labels["windwos"] == "y")
    }

    @Test func aSecretIsAnEnvironmentVariableOrAFileNotBoth() {
        let text = Self.base.replacingOccurrences(
            of: "{env: ORDERS_PASSWORD}", with: "{env: ORDERS_PASSWORD, file: /etc/pw}")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.description.contains("not both") == true, "\(error?.description ?? "")")
    }

    @Test func manySlipsAreCappedWithACount() throws {
        var text = Self.base
        for index in 0..<(ConfigError.maximumProblems + 5) { text += "\nunknown\(index): 1" }
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.lines.count == ConfigError.maximumProblems + 1)
        #expect(error?.lines.last == "… and 5 more problems")
    }

    @Test func suggestionsAreCloseOrDifferOnlyInCase() {
        #expect(UnknownKeys.nearest("catchup", in: ["catchUp", "switchover"]) == "catchUp")
        #expect(UnknownKeys.nearest("windwos", in: ["windows", "freezes"]) == "windows")
        #expect(UnknownKeys.nearest("xy", in: ["on", "before"]) == nil)
        #expect(UnknownKeys.nearest("kubernetes", in: ["kind", "root", "runAs"]) == nil)
        #expect(UnknownKeys.editDistance("kitten", "sitting") == 3)
    }

    /// The README's config reference is a config that loads: every key it shows is one the
    /// parser knows, so the documentation and the parser cannot drift apart.
    @Test func theREADMEConfigReferenceLoads() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let section = try #require(lines.firstIndex(of: "## Config"), "README.md has no ## Config section")
        let open = try #require(lines[section...].firstIndex(of: "```yaml"))
        let close = try #require(lines[(open + 1)...].firstIndex(of: "```"))
        let yaml = lines[(open + 1)..<close].joined(separator: "\n")
        let config = try FleetConfig.parse(yaml, source: "README.md")
        #expect(config.databases.keys.sorted() == ["orders", "sessions"])
        #expect(config.daemon != nil)
        #expect(config.scheduled.count == 2)
        #expect(try config.database("orders").windows.count == 3)
    }
}
