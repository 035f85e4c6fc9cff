import Foundation
import PostgresClient
import Testing

@testable import ChangeoverCore

/// The inventory kept in the state store (a real SQLite store in a temporary directory) and how
/// a config load merges it: resolved by the file's rules, a name in both is an error, a row
/// that no longer resolves is left out with its reason, errors quote no secret.
@Suite struct FleetConfigInventoryTests {
    /// A config file in a new temporary directory whose state directory does not exist yet.
    func fleet(
        images: String =
            "pg15: {binDirectory: /usr/lib/postgresql/15/bin}\n  pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}",
        extra: String = ""
    ) throws -> (root: String, config: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("inventory-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = "\(root)/fleet.yaml"
        try """
        stateDirectory: \(root)/state
        provisioner: {kind: local, root: \(root)/nodes}
        notify: {command: /bin/true, before: [1h]}
        images:
          \(images)
        databases:
          orders:
            image: pg15
            primary: "host=10.0.0.5 port=5432 user=postgres"
            password: {env: ORDERS_PW}
        \(extra)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return (root, config)
    }

    static let billing = """
        engine: postgres
        image: pg15-patched
        primary: "host=10.0.0.7 port=5433 user=app dbname=billing"
        password: {env: BILLING_PW}
        replication: {user: replicator, password: {env: BILLING_REPL_PW}}
        labels: {tier: production}
        windows: ["Sundays 02:00 UTC for 2h"]
        catchUp: {maxLagBytes: 4MB}
        """

    func entry(_ name: String, _ stanza: String, at: Date = Date(timeIntervalSince1970: 1_800_000_000.25))
        -> InventoryEntry
    {
        InventoryEntry(name: name, stanza: stanza, addedAt: at, addedBy: "ops@host pid 1")
    }

    @Test func aStoredDatabaseJoinsTheConfigResolvedAsTheFilesOwn() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try StateStore(directory: "\(root)/state").saveInventory(entry("billing", Self.billing))

        let config = try FleetConfig.load(path: path)
        #expect(Set(config.databases.keys) == ["orders", "billing"])
        #expect(config.inventory.names == ["billing"] && config.inventory.invalid.isEmpty)
        let billing = try config.database("billing")
        #expect(billing.engine == .postgres && billing.image == "pg15-patched")
        #expect(billing.primary.host == "10.0.0.7" && billing.primary.port == 5433)
        #expect(
            billing.password == .environment("BILLING_PW")
                && billing.replicationPassword == .environment("BILLING_REPL_PW"))
        #expect(billing.replicationUser == "replicator")
        #expect(billing.labels == ["tier": "production"])
        #expect(billing.windows.count == 1 && billing.windows[0].duration == .seconds(7200))
        // The file's defaults and fleet-wide settings apply as to a database written in the file.
        #expect(billing.catchUp.maxLagBytes == 4 << 20 && billing.catchUp.holdFor == CatchUpPolicy().holdFor)
        #expect(billing.retireAfter == .seconds(24 * 3600))
        #expect(billing.notify == config.notify && billing.notify.command == "/bin/true")

        // The file alone, as `db` reads it.
        let file = try FleetConfig.load(path: path, mergingInventory: false)
        #expect(Set(file.databases.keys) == ["orders"] && file.inventory.names.isEmpty)
    }

    @Test func aNameInBothTheFileAndTheStoreIsAnErrorNamingIt() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try StateStore(directory: "\(root)/state").saveInventory(entry("orders", Self.billing))
        let error = #expect(throws: ConfigError.self) { try FleetConfig.load(path: path) }
        #expect(
            error?.description == "database orders is both in config \(path) and in the state store's inventory; "
                + "remove one (changeover db remove orders, or edit the config file)")

        // `db list`'s view: the file's database stays, the store's row is invalid with that reason.
        var config = try FleetConfig.load(path: path, mergingInventory: false)
        try config.merge(try StateStore(directory: "\(root)/state").inventory(), duplicates: .leaveOut)
        #expect(try config.database("orders").primary.host == "10.0.0.5")
        #expect(config.inventory.invalid.map(\.name) == ["orders"])
        #expect(config.inventory.invalid.first?.reason.contains("both in config") == true)
    }

    @Test func aRowThatNoLongerResolvesIsLeftOutWithItsReason() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(directory: "\(root)/state")
        try store.saveInventory(entry("billing", Self.billing))
        try store.saveInventory(entry("stock", Self.billing.replacingOccurrences(of: "10.0.0.7", with: "10.0.0.8")))
        #expect(try FleetConfig.load(path: path).databases.count == 3)

        // The image billing and stock run is removed from the file: both are left out, the
        // config still loads, and the reason names the image.
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\n  pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}", with: "")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let config = try FleetConfig.load(path: path)
        #expect(Set(config.databases.keys) == ["orders"])
        #expect(config.inventory.names.isEmpty)
        #expect(
            config.inventory.invalid == [
                InvalidInventoryEntry(
                    name: "billing", reason: "unknown image \"pg15-patched\" (the config defines: pg15)"),
                InvalidInventoryEntry(
                    name: "stock", reason: "unknown image \"pg15-patched\" (the config defines: pg15)"),
            ])
    }

    @Test func manyRowsAreSavedInOneTransactionEachReplacingItsName() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(directory: "\(root)/state")
        try store.saveInventory(entry("billing", Self.billing))
        let batch =
            (0..<500).map { entry(String(format: "shard%03d", $0), Self.billing) }
            + [entry("billing", Self.billing.replacingOccurrences(of: "10.0.0.7", with: "10.0.0.9"))]
        try store.saveInventory(batch)
        try store.saveInventory([InventoryEntry]())
        let rows = try store.inventory()
        #expect(rows.count == 501 && rows.first?.name == "billing" && rows.last?.name == "shard499")
        let config = try FleetConfig.load(path: path)
        #expect(config.databases.count == 502)
        #expect(try config.database("billing").primary.host == "10.0.0.9")
    }

    @Test func aRemovedRowLeavesTheConfig() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(directory: "\(root)/state")
        try store.saveInventory(entry("billing", Self.billing))
        #expect(try FleetConfig.load(path: path).databases["billing"] != nil)
        #expect(try store.removeInventory("billing"))
        #expect(try !store.removeInventory("billing"))
        #expect(try FleetConfig.load(path: path).databases["billing"] == nil)
        #expect(try store.inventory().isEmpty)
    }

    @Test func rowsReadBackSortedAndAReplacedRowIsReplaced() throws {
        let (root, _) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(directory: "\(root)/state")
        for name in ["stock", "Billing", "a-1", "billing"] {
            try store.saveInventory(entry(name, "image: pg15\nprimary: \"host=\(name)\"\n"))
        }
        #expect(try store.inventory().map(\.name) == ["Billing", "a-1", "billing", "stock"])
        let replaced = entry("stock", Self.billing, at: Date(timeIntervalSince1970: 1_800_000_999.5))
        try store.saveInventory(replaced)
        #expect(try store.inventoryEntry("stock") == replaced)
        #expect(try store.inventory().count == 4)
        #expect(try store.inventoryEntry("nothing") == nil)
        // Another connection (another process) reads the same rows.
        #expect(try SQLiteStateStorage(directory: "\(root)/state").inventory() == store.inventory())
    }

    @Test func loadingWithoutStateCreatesNoStateDirectory() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try FleetConfig.load(path: path)
        #expect(config.databases.keys.sorted() == ["orders"])
        #expect(!FileManager.default.fileExists(atPath: "\(root)/state"))
        #expect(try StateStore(directory: "\(root)/state").inventory().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(root)/state"))
    }

    @Test(arguments: [
        ("image: pg15\nprimary: \"host=db1 password=s3cret\"\n", "primary conninfo holds a password"),
        ("image: pg15\nprimary: \"host=db1\"\npassword: s3cret\n", "malformed stanza: wrong type at password"),
        ("image: pg15\nprimary: \"host=db1\"\npassword: {file: /etc/s3cret}\n", "password is read from a file"),
        (
            "image: pg15\nprimary: \"host=db1\"\nreplication: {password: {file: /etc/s3cret}}\n",
            "replication.password is read from a file"
        ),
        (
            "engine: redis\nimage: pg15\nprimary: \"redis://app:s3cret@db1:6379\"\n",
            "the primary address holds a password"
        ),
        ("image: pg15\nprimary: \"postgresql://app:s3cret@db1/x\"\n", "primary conninfo holds a password"),
        ("image: pg15\nprimary: [\"host=db1 password=s3cret\"\n", "malformed stanza: line"),
        ("- image: pg15\n- primary: \"password=s3cret\"\n", "the stanza is a list"),
        ("", "the stanza is empty"),
        ("image: pg15\n", "malformed stanza: missing key \"primary\""),
        ("engine: oracle\nimage: pg15\nprimary: \"host=db1\"\n", "unknown engine \"oracle\""),
        ("image: pg16\nprimary: \"host=db1\"\n", "unknown image \"pg16\" (the config defines: pg15, pg15-patched)"),
        ("image: pg15\nprimary: \"host=db1\"\nwindows: [\"Caturday 02:00\"]\n", "bad day"),
        ("image: pg15\nprimary: \"host=db1\"\ncontainer: db1\n", "container: needs the docker provisioner"),
        ("image: pg15\nprimary: \"host=db1\"\nnotify: {webhook: \"http://u:s3cret@hooks/x\"}\n", "notify.webhook"),
        ("a: &x s3cret\nimage: *x\n", "alias *x"),
        (
            "image: pg15\nprimary: \"host=db1\"\ncatchup: {maxLagBytes: 1MB}\n",
            ", line 3: catchup: unknown key; did you mean catchUp?"
        ),
        (
            "image: pg15\nprimary: \"host=db1\"\nrouter: {kind: hook, command: /bin/true, timout: 5s}\n",
            ", line 3: timout: unknown key; did you mean timeout?"
        ),
    ])
    func aBadStanzaIsOneLineNamingTheDatabaseAndQuotesNoSecret(stanza: String, expected: String) throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try FleetConfig.load(path: path)
        let error = #expect(throws: ConfigError.self) { try config.resolveInventory(name: "billing", stanza: stanza) }
        let text = error?.description ?? ""
        #expect(
            text.hasPrefix("inventory database billing: ") || text.hasPrefix("inventory database billing, "), "\(text)")
        #expect(text.contains(expected), "\(text)")
        #expect(!text.contains("\n") && !text.contains("s3cret"), "\(text)")

        // Stored anyway (by another tool, or before the file changed): left out with the same reason.
        try StateStore(directory: "\(root)/state").saveInventory(entry("billing", stanza))
        let merged = try FleetConfig.load(path: path)
        #expect(merged.databases["billing"] == nil)
        #expect(merged.inventory.invalid.map(\.name) == ["billing"])
        let reason = try #require(merged.inventory.invalid.first?.reason)
        #expect(text == "inventory database billing: \(reason)" || text == "inventory database billing, \(reason)")
    }

    @Test func unknownKeysOfAnImportFileAreAllReportedWithTheFilesLines() throws {
        let text = """
            databases:
              billing:
                image: pg15
                primary: "host=db1"
                catchup: {maxLagBytes: 1MB}
              ledger:
                image: pg15
                primary: "host=db2"
                windwos: ["sun:02:00-sun:04:00"]
            """
        let error = #expect(throws: ConfigError.self) { try FleetConfig.importStanzas(text, source: "more.yaml") }
        #expect(
            error?.lines == [
                "import file more.yaml line 5: catchup: unknown key; did you mean catchUp?",
                "import file more.yaml line 9: windwos: unknown key; did you mean windows?",
            ])
    }

    @Test func aStanzaWithSeveralUnknownKeysNamesEachAndIsOneReasonInTheInventory() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let stanza = "image: pg15\nprimary: \"host=db1\"\ncatchup: {maxLagBytes: 1MB}\nwindwos: []\n"
        let config = try FleetConfig.load(path: path)
        let error = #expect(throws: ConfigError.self) { try config.resolveInventory(name: "billing", stanza: stanza) }
        #expect(
            error?.lines == [
                "inventory database billing, line 3: catchup: unknown key; did you mean catchUp?",
                "inventory database billing, line 4: windwos: unknown key; did you mean windows?",
            ])
        try StateStore(directory: "\(root)/state").saveInventory(entry("billing", stanza))
        let merged = try FleetConfig.load(path: path)
        #expect(
            merged.inventory.invalid.first?.reason
                == "line 3: catchup: unknown key; did you mean catchUp?; line 4: windwos: unknown key; did you mean windows?"
        )
    }

    @Test func aBadNameIsRefused() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try FleetConfig.load(path: path)
        for name in ["", "../orders", "a b", ".hidden", String(repeating: "x", count: 129)] {
            #expect(throws: ConfigError.self) { try config.resolveInventory(name: name, stanza: Self.billing) }
        }
    }

    @Test func theFlagsMakeAStanzaThatReadsBackAsGiven() throws {
        let (root, path) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try FleetConfig.load(path: path)
        let primary = #"host=db7 port=5432 user=app application_name='it\'s "quoted" \\ here'"#
        let stanza = InventoryEntry.stanza(
            engine: "postgres", image: "pg15", primary: primary, passwordEnvironment: "BILLING_PW",
            labels: [("tier", "production"), ("team", "payments")],
            windows: ["Sundays 02:00 UTC for 2h", "sun:22:00-sun:23:30"])
        let database = try config.resolveInventory(name: "billing", stanza: stanza)
        #expect(database.primary == .postgres(try ConnInfo(primary)))
        #expect(database.password == .environment("BILLING_PW"))
        #expect(database.labels == ["tier": "production", "team": "payments"])
        #expect(database.windows.count == 2)
        let redis = InventoryEntry.stanza(
            engine: "redis", image: "pg15", primary: "10.0.0.9:6380", passwordEnvironment: nil,
            labels: [], windows: [])
        #expect(
            try config.resolveInventory(name: "cache", stanza: redis).primary
                == .redis(host: "10.0.0.9", port: 6380, user: nil))
    }
}
