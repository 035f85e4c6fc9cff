import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// `changeover db add|remove|list` from the real executable: the inventory kept in the state
/// store, what the other commands make of it, and the Postgres store shared by two hosts.
@Suite(.serialized) struct InventoryCLITests {
    /// A config of one database (`orders`) and two images, in a new directory whose state
    /// directory does not exist yet; `extra` is appended (YAML, top level).
    static func fleet(in directory: String, extra: String = "") throws -> String {
        let path = "\(directory)/fleet.yaml"
        try """
        stateDirectory: \(directory)/state
        auditLog: \(directory)/audit.jsonl
        provisioner: {kind: local, root: \(directory)/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=5432 user=postgres"
            labels: {tier: staging}
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "inventory-cli-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    /// The CLI with `stdin` as its standard input.
    static func run(_ arguments: [String], stdin: String, environment: [String: String] = [:]) async throws
        -> Subprocess.Outcome
    {
        try await Subprocess.run(
            [CLI.executable] + arguments, environment: environment, stdin: Data(stdin.utf8), timeout: .seconds(120))
    }

    static func listed(_ stdout: String) throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [[String: Any]], "\(stdout)")
    }

    static let cache = """
        engine: redis
        image: pg15-patched
        primary: "10.0.0.9:6380"
        password: {env: CACHE_PW}
        labels: {tier: production, team: web}
        windows: ["sun:22:00-sun:23:30"]
        """

    /// `db import`: a config's databases: section on its own goes into the store in one go, each
    /// stanza read back as the file's own would be; anything wrong imports nothing.
    @Test func importTakesAFileOfStanzasAllOrNone() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        func write(_ name: String, _ text: String) throws -> String {
            let path = "\(directory)/\(name)"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let file = try write(
            "databases.yaml",
            """
            databases:
              # moved out of the config file
              billing:
                image: pg15
                primary: "host=10.0.0.7 port=5433 user=app"
                password: {env: BILLING_PW}
                labels: {tier: production}
                windows: ["Sundays 02:00 UTC for 2h"]
              cache: {engine: redis, image: pg15-patched, primary: "10.0.0.9:6380", labels: {tier: staging, team: web-ops}}
              "ledger-2": {image: pg15, primary: "host=10.0.0.8 dbname='a b'", follower: {port: 7001}}
            """)
        let first = try await CLI.run(["db", "import", "--config", config, "--file", file])
        #expect(
            first.status == 0
                && first.stdout.contains("3 database(s) imported into the inventory: 3 added, 0 replaced"),
            "\(first.stdout)\(first.stderr)")
        let loaded = try FleetConfig.load(path: config)
        #expect(
            loaded.inventory.names.sorted() == ["billing", "cache", "ledger-2"] && loaded.inventory.invalid.isEmpty)
        let cache = try loaded.database("cache")
        #expect(
            cache.engine == .redis && cache.labels == ["tier": "staging", "team": "web-ops"]
                && cache.primary.port == 6380)
        let ledger = try loaded.database("ledger-2")
        let ledgerPrimary = DatabasePrimary.postgres(try ConnInfo("host=10.0.0.8 dbname='a b'"))
        #expect(ledger.followerPort == 7001 && ledger.primary == ledgerPrimary)
        #expect(try loaded.database("billing").password == .environment("BILLING_PW"))
        let audit = try AuditLog.read(path: "\(directory)/audit.jsonl").filter { $0.step == "inventory" }
        #expect(
            audit.map(\.database).sorted() == ["billing", "cache", "ledger-2"]
                && audit.allSatisfy { $0.outcome == "added" })

        // Again: refused without --replace; with it, replaced.
        let again = try await CLI.run(["db", "import", "--config", config, "--file", file])
        #expect(
            again.status == 2
                && again.stderr.contains(
                    "3 of the file's databases are already in the inventory (billing, cache, ledger-2)"),
            "\(again.stderr)")
        let replaced = try await CLI.run(["db", "import", "--config", config, "--file", file, "--replace"])
        #expect(
            replaced.status == 0 && replaced.stdout.contains("0 added, 3 replaced"),
            "\(replaced.stdout)\(replaced.stderr)")

        // One bad stanza, or a name the config file has: nothing is imported.
        for (text, error) in [
            (
                "databases:\n  fresh: {image: pg15, primary: \"host=h\"}\n  broken: {image: pg9, primary: \"host=h\"}\n",
                "unknown image \"pg9\""
            ),
            (
                "databases:\n  fresh: {image: pg15, primary: \"host=h\"}\n  orders: {image: pg15, primary: \"host=h\"}\n",
                "database orders is in config"
            ),
            ("images: {}\ndatabases:\n  fresh: {image: pg15, primary: \"host=h\"}\n", "has images: beside databases:"),
            ("- fresh\n", "is a list"),
        ] {
            let bad = try await CLI.run(["db", "import", "--config", config, "--file", try write("bad.yaml", text)])
            #expect(
                bad.status == 2 && bad.stderr.contains(error) && bad.stderr.split(separator: "\n").count == 1,
                "\(bad.stderr)")
        }
        #expect(
            try StateStore(directory: "\(directory)/state").inventory().map(\.name) == ["billing", "cache", "ledger-2"])
    }

    @Test func addByFlagsAndOnStdinListRemoveAndAudit() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)

        let byFlags = try await CLI.run([
            "db", "add", "billing", "--config", config, "--engine", "postgres", "--image", "pg15",
            "--primary", "host=10.0.0.7 port=5433 user=app", "--password-env", "BILLING_PW",
            "--tier", "production", "--window", "Sundays 02:00 UTC for 2h", "--label", "team=payments",
        ])
        #expect(byFlags.status == 0, "\(byFlags.stderr)")
        #expect(byFlags.stdout == "database billing added to the inventory: postgres on pg15, tier production\n")
        let onStdin = try await Self.run(["db", "add", "cache", "--config", config, "--file", "-"], stdin: Self.cache)
        #expect(onStdin.status == 0, "\(onStdin.stderr)")
        #expect(
            onStdin.stdout.contains("database cache added to the inventory: redis on pg15-patched, tier production"))

        // The stanza is kept as given.
        let stored = try #require(try StateStore(directory: "\(directory)/state").inventoryEntry("cache"))
        #expect(stored.stanza == Self.cache && stored.addedBy.contains("pid"))

        let text = try await CLI.run(["db", "list", "--config", config])
        #expect(text.status == 0 && text.stderr.isEmpty, "\(text.stderr)")
        let lines = text.stdout.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
        }
        #expect(
            lines == [
                "DATABASE ENGINE IMAGE PRIMARY TIER SOURCE", "billing postgres pg15 10.0.0.7:5433 production store",
                "cache redis pg15-patched 10.0.0.9:6380 production store",
                "orders postgres pg15 127.0.0.1:5432 staging config",
            ],
            "\(text.stdout)")
        // Every column begins where its header does.
        let raw = text.stdout.split(separator: "\n").map { Array($0) }
        for title in ["ENGINE", "IMAGE", "PRIMARY", "TIER", "SOURCE"] {
            let column = try #require(String(raw[0]).range(of: title)).lowerBound.utf16Offset(in: String(raw[0]))
            #expect(
                raw.allSatisfy { $0.count > column && $0[column] != " " && $0[column - 1] == " " },
                "\(title): \(text.stdout)")
        }
        let json = try await CLI.run(["db", "list", "--config", config, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let rows = try Self.listed(json.stdout)
        #expect(rows.map { $0["name"] as? String } == ["billing", "cache", "orders"])
        #expect(rows.map { $0["source"] as? String } == ["store", "store", "config"])
        #expect(rows.map { $0["valid"] as? Bool } == [true, true, true])
        #expect(rows[1]["engine"] as? String == "redis" && rows[1]["addedBy"] != nil && rows[2]["addedBy"] == nil)

        // A name already in the store needs --replace; one in the file cannot be added at all.
        let again = try await CLI.run([
            "db", "add", "billing", "--config", config, "--image", "pg15", "--primary", "host=10.0.0.8",
        ])
        #expect(again.status == 2 && again.stderrLines.count == 1, "\(again.stderr)")
        #expect(
            again.stderr.contains("database billing is already in the inventory") && again.stderr.contains("--replace"))
        let replaced = try await CLI.run([
            "db", "add", "billing", "--config", config, "--image", "pg15-patched",
            "--primary", "host=10.0.0.8", "--replace",
        ])
        #expect(replaced.status == 0 && replaced.stdout.contains("billing replaced"), "\(replaced.stderr)")
        let inFile = try await CLI.run([
            "db", "add", "orders", "--config", config, "--image", "pg15", "--primary", "host=10.0.0.8", "--replace",
        ])
        #expect(
            inFile.status == 2 && inFile.stderrLines.count == 1
                && inFile.stderr.contains("database orders is in config"), "\(inFile.stderr)")

        // Remove: the file's database is the file's to remove; the store's goes.
        let fileOnly = try await CLI.run(["db", "remove", "orders", "--config", config])
        #expect(
            fileOnly.status == 2
                && fileOnly.stderrLines == [
                    "changeover: error: database orders is in config \(config), not in the inventory: edit the config file"
                ])
        let removed = try await CLI.run(["db", "remove", "cache", "--config", config])
        #expect(
            removed.status == 0 && removed.stdout == "database cache removed from the inventory\n", "\(removed.stderr)")
        let twice = try await CLI.run(["db", "remove", "cache", "--config", config])
        #expect(twice.status == 2 && twice.stderrLines == ["changeover: error: no database cache in the inventory"])
        let after = try Self.listed(try await CLI.run(["db", "list", "--config", config, "--json"]).stdout)
        #expect(after.map { $0["name"] as? String } == ["billing", "orders"])
        #expect(after[0]["image"] as? String == "pg15-patched")

        let audit = try AuditLog.read(path: "\(directory)/audit.jsonl").filter { $0.step == "inventory" }
        #expect(
            audit.map { "\($0.database) \($0.outcome)" } == [
                "billing added", "cache added", "billing replaced", "cache removed",
            ])
        #expect(
            audit[0].facts["image"] == "pg15" && audit[0].facts["tier"] == "production"
                && audit[0].facts["source"] == "store")
        #expect(AuditLog.verify(path: "\(directory)/audit.jsonl").isIntact)
    }

    @Test(arguments: [
        (["--primary", "host=10.0.0.7 password=s3cret", "--image", "pg15"], "the primary conninfo holds a password"),
        (
            ["--primary", "postgresql://app:s3cret@10.0.0.7/x", "--image", "pg15"],
            "the primary conninfo holds a password"
        ),
        (
            ["--engine", "redis", "--primary", "redis://app:s3cret@10.0.0.7", "--image", "pg15"],
            "the primary address holds a password"
        ),
        (["--engine", "redis", "--primary", "redis://app:s3cret", "--image", "pg15"], "bad Redis primary address"),
        (
            ["--primary", "host=10.0.0.7", "--image", "pg99"],
            "unknown image \"pg99\" (the config defines: pg15, pg15-patched)"
        ),
        (["--primary", "host=10.0.0.7", "--image", "pg15", "--window", "Caturday 02:00"], "bad day"),
        (
            ["--primary", "host=10.0.0.7", "--image", "pg15", "--label", "tier=two words"],
            "labels.tier: the value must be one word"
        ),
        (
            ["--file", "STANZA:image: pg15\nprimary: \"host=10.0.0.7 password=s3cret\"\n"],
            "the primary conninfo holds a password"
        ),
        (
            ["--file", "STANZA:image: pg15\nprimary: \"host=10.0.0.7\"\npassword: s3cret\n"],
            "malformed stanza: wrong type at password"
        ),
        (["--file", "STANZA:image: pg15\nprimary: [\"host=10.0.0.7 password=s3cret\"\n"], "malformed stanza: line"),
        (
            ["--file", "STANZA:image: pg15\nprimary: \"host=10.0.0.7\"\npassword: {file: /etc/s3cret}\n"],
            "password is read from a file"
        ),
        (["--file", "STANZA:- s3cret\n"], "the stanza is a list"),
        (["--file", "/nonexistent/stanza.yaml"], "cannot read the stanza file /nonexistent/stanza.yaml"),
    ])
    func aBadStanzaIsOneLineWritesNothingAndQuotesNoSecret(arguments: [String], message: String) async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        var arguments = arguments
        // A stanza given inline here is written to a file of its own.
        if arguments.count == 2, arguments[1].hasPrefix("STANZA:") {
            try String(arguments[1].dropFirst("STANZA:".count)).write(
                toFile: "\(directory)/stanza.yaml", atomically: true, encoding: .utf8)
            arguments[1] = "\(directory)/stanza.yaml"
        }
        let result = try await CLI.run(["db", "add", "billing", "--config", config] + arguments)
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stderrLines.count == 1 && result.stderr.hasPrefix("changeover: error: "), "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!result.stderr.contains("s3cret") && !result.stdout.contains("s3cret"), "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(
            !FileManager.default.fileExists(atPath: "\(directory)/state"), "a refused add created the state directory")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/audit.jsonl"), "a refused add was audited")
    }

    @Test func aRowThatNoLongerResolvesIsLeftOutWithAWarningAndAFileDuplicateIsAnError() async throws {
        let directory = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try Self.fleet(in: directory)
        let added = try await Self.run(["db", "add", "cache", "--config", config, "--file", "-"], stdin: Self.cache)
        #expect(added.status == 0, "\(added.stderr)")
        let windows = try await CLI.run(["windows", "--config", config, "--database", "cache", "--count", "1"])
        #expect(windows.status == 0 && windows.stdout.hasPrefix("cache: "), "\(windows.stderr)")

        // The image cache runs is taken out of the file: every command still works, warns, and
        // knows nothing of cache; `db list` shows it as invalid with the reason.
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "  pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}\n", with: "")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let warning =
            "changeover: warning: inventory database cache left out: unknown image \"pg15-patched\" (the config defines: pg15)"
        let status = try await CLI.run(["status", "--config", config])
        #expect(status.status == 0 && status.stderrLines == [Substring(warning)], "\(status.stderr)")
        let gone = try await CLI.run(["windows", "--config", config, "--database", "cache"])
        #expect(gone.status == 2 && gone.stderrLines.first == Substring(warning), "\(gone.stderr)")
        #expect(
            gone.stderrLines.last?.contains("unknown database \"cache\" (the config defines: orders)") == true,
            "\(gone.stderr)")
        let list = try await CLI.run(["db", "list", "--config", config])
        #expect(list.status == 0 && list.stderr.isEmpty, "\(list.stderr)")
        #expect(
            list.stdout.contains("store  invalid: unknown image \"pg15-patched\" (the config defines: pg15)"),
            "\(list.stdout)")
        let rows = try Self.listed(try await CLI.run(["db", "list", "--config", config, "--json"]).stdout)
        #expect(
            rows.first?["valid"] as? Bool == false
                && (rows.first?["invalid"] as? String)?.contains("unknown image") == true)

        // The same name in the file and in the store: commands that act refuse, naming it; the
        // `db` commands still work, and removing the store's row settles it.
        try (text + "  cache:\n    image: pg15\n    primary: \"host=10.0.0.3\"\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        let both = try await CLI.run(["status", "--config", config])
        #expect(
            both.status == 2
                && both.stderrLines == [
                    "changeover: error: database cache is both in config \(config) and in the state store's inventory; remove one (changeover db remove cache, or edit the config file)"
                ], "\(both.stderr)")
        let listed = try await CLI.run(["db", "list", "--config", config])
        #expect(
            listed.status == 0 && listed.stdout.contains("invalid: database cache is both in config"),
            "\(listed.stdout)")
        let removed = try await CLI.run(["db", "remove", "cache", "--config", config])
        #expect(removed.status == 0, "\(removed.stderr)")
        let fixed = try await CLI.run(["status", "--config", config])
        #expect(fixed.status == 0 && fixed.stderr.isEmpty, "\(fixed.stderr)")
    }

    /// A database that exists only in the store, on a real primary: `plan` runs its preflight,
    /// `schedule` records a changeover, `status` shows what it waits for, and `db remove` is
    /// refused until the changeover is aborted.
    @Test func aStoreDatabaseIsPlannedScheduledAndKeptWhileItsChangeoverIsPending() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let lab = scenario.lab
            let config = scenario.configPath
            try """
            stateDirectory: \(lab.root)/state
            provisioner: {kind: local, root: \(lab.root)/nodes}
            images:
              pg15: {binDirectory: \(lab.binDirectory)}
              pg15-patched: {binDirectory: \(lab.binDirectory)}
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let stanza = """
                engine: postgres
                image: pg15
                primary: "host=\(scenario.primary.host) port=\(scenario.primary.port) user=postgres dbname=postgres"
                password: {env: LAB_PG_PASSWORD}
                replication: {user: replicator, password: {env: LAB_REPL_PASSWORD}}
                follower: {port: \(scenario.followerPorts[0])}
                windows: ["\(weeklyWindowDaysAway())"]
                """
            let added = try await Self.run(
                ["db", "add", "orders", "--config", config, "--file", "-"], stdin: stanza,
                environment: scenario.environment)
            #expect(added.status == 0, "\(added.stderr)")

            let plan = try await CLI.run(
                ["plan", "--config", config, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(plan.status == 0, "\(plan.stdout) \(plan.stderr)")
            #expect(plan.stdout.contains("changeover plan for orders: pg15 → pg15-patched"), "\(plan.stdout)")

            let scheduled = try await CLI.run(
                ["schedule", "--config", config, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(scheduled.status == 0, "\(scheduled.stderr)")
            let id = try #require(try StateStore(directory: "\(lab.root)/state").changeovers().first?.id)
            let status = try await CLI.run(["status", "--config", config, id], environment: scenario.environment)
            #expect(status.status == 0 && status.stdout.contains("  waiting  "), "\(status.stdout) \(status.stderr)")
            // The plan from the database's windows, which only a status that knows the database shows.
            #expect(!status.stdout.contains("the daemon, or"), "\(status.stdout)")

            let refused = try await CLI.run(["db", "remove", "orders", "--config", config])
            #expect(
                refused.status == 2
                    && refused.stderrLines == [
                        "changeover: error: cannot remove database orders: changeover \(id) (pending) has not ended; let it finish, or abort it first (changeover abort \(id) --yes)"
                    ], "\(refused.stderr)")
            let replace = try await Self.run(
                ["db", "add", "orders", "--config", config, "--file", "-", "--replace"], stdin: stanza)
            #expect(
                replace.status == 2 && replace.stderr.contains("cannot replace database orders: changeover \(id)"),
                "\(replace.stderr)")
            #expect(try StateStore(directory: "\(lab.root)/state").inventoryEntry("orders") != nil)

            let aborted = try await CLI.run(
                ["abort", "--config", config, id, "--yes"], environment: scenario.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            let removed = try await CLI.run(["db", "remove", "orders", "--config", config])
            #expect(removed.status == 0, "\(removed.stderr)")
            let unknown = try await CLI.run(
                ["plan", "--config", config, "--database", "orders", "--image", "pg15-patched"],
                environment: scenario.environment)
            #expect(
                unknown.status == 2
                    && unknown.stderr.contains("unknown database \"orders\" (the config defines: none)"),
                "\(unknown.stderr)")
        }
    }

    /// Two controllers ("hosts": each its own config and state directory) sharing a Postgres
    /// store see one inventory: what one adds the other lists and uses, what it removes is gone
    /// for both.
    @Test func twoHostsSharingAPostgresStoreSeeOneInventory() async throws {
        let lab = try Lab()
        var failure: (any Error)?
        do {
            let store = try await lab.startPrimary(name: "store")
            let environment = ["LAB_PG_PASSWORD": lab.superuserPassword]
            var configs: [String] = []
            for host in ["a", "b"] {
                let path = "\(lab.root)/host-\(host).yaml"
                try """
                stateDirectory: \(lab.root)/state-\(host)
                provisioner: {kind: local, root: \(lab.root)/nodes-\(host)}
                store: {kind: postgres, conninfo: "host=127.0.0.1 port=\(store.port) user=postgres dbname=postgres", passwordEnv: LAB_PG_PASSWORD}
                images:
                  pg15: {binDirectory: \(lab.binDirectory)}
                """.write(toFile: path, atomically: true, encoding: .utf8)
                configs.append(path)
            }
            let added = try await CLI.run(
                [
                    "db", "add", "billing", "--config", configs[0], "--image", "pg15",
                    "--primary", "host=10.0.0.7 port=5432 user=app", "--tier", "production",
                    "--window", "Sundays 02:00 UTC for 2h",
                ], environment: environment)
            #expect(added.status == 0, "\(added.stderr)")

            let listed = try await CLI.run(["db", "list", "--config", configs[1], "--json"], environment: environment)
            #expect(listed.status == 0, "\(listed.stderr)")
            let rows = try Self.listed(listed.stdout)
            #expect(rows.map { $0["name"] as? String } == ["billing"] && rows.first?["source"] as? String == "store")
            #expect(rows.first?["tier"] as? String == "production")
            let windows = try await CLI.run(
                ["windows", "--config", configs[1], "--database", "billing", "--count", "1"], environment: environment)
            #expect(windows.status == 0 && windows.stdout.hasPrefix("billing: "), "\(windows.stderr)")
            #expect(!FileManager.default.fileExists(atPath: "\(lab.root)/state-b/state.sqlite"))

            let removed = try await CLI.run(
                ["db", "remove", "billing", "--config", configs[1]], environment: environment)
            #expect(removed.status == 0, "\(removed.stderr)")
            let empty = try await CLI.run(["db", "list", "--config", configs[0], "--json"], environment: environment)
            #expect(try Self.listed(empty.stdout).isEmpty, "\(empty.stdout) \(empty.stderr)")
            // Both hosts audited their own change, each in its own audit log.
            #expect(try AuditLog.read(path: "\(lab.root)/state-a/audit.jsonl").map(\.outcome) == ["added"])
            #expect(try AuditLog.read(path: "\(lab.root)/state-b/audit.jsonl").map(\.outcome) == ["removed"])
        } catch {
            failure = error
        }
        await lab.shutdown()
        if let failure { throw failure }
    }
}
