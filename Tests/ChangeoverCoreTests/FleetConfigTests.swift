import Foundation
import Testing

@testable import ChangeoverCore

@Suite struct FleetConfigTests {
    static let valid = """
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
            primary: "postgres://app@10.0.0.5:5433/orders"
            password: {env: ORDERS_PASSWORD}
            replication: {user: replicator, password: {file: /etc/changeover/repl}}
            follower: {port: 6543}
            router: {kind: hook, command: "/usr/local/bin/repoint", timeout: 5s}
            catchUp: {maxLagBytes: 8MB, maxLagTime: 500ms, holdFor: 3s, timeout: 1h}
            switchover: {replayTimeout: 20s}
        """

    @Test func parsesAFullConfig() throws {
        let config = try FleetConfig.parse(Self.valid)
        let db = try config.database("orders")
        #expect(config.auditLog == "/var/lib/changeover/audit.jsonl")
        #expect(config.provisioner.runAs == "postgres")
        #expect(db.primary.host == "10.0.0.5")
        #expect(db.primary.port == 5433)
        #expect(db.replicationUser == "replicator")
        #expect(db.replicationPassword == .file("/etc/changeover/repl"))
        #expect(db.followerPort == 6543)
        #expect(db.router == RouterConfig(kind: .hook, command: "/usr/local/bin/repoint", timeout: .seconds(5)))
        #expect(db.catchUp.maxLagBytes == 8 << 20)
        #expect(db.catchUp.maxLagTime == .milliseconds(500))
        #expect(db.catchUp.timeout == .seconds(3600))
        #expect(db.switchover.replayTimeout == .seconds(20))
        #expect(try config.image("pg15-patched").environment == ["LD_LIBRARY_PATH": "/opt/glibc/lib"])
    }

    @Test func malformedYAMLIsOneLine() {
        let error = #expect(throws: ConfigError.self) {
            try FleetConfig.parse("databases: [orders\n  image: : :", source: "f.yaml")
        }
        #expect(error?.description.hasPrefix("malformed config f.yaml") == true)
        #expect(error?.description.contains("\n") == false)
    }

    @Test func unknownNamesListWhatExists() throws {
        let config = try FleetConfig.parse(Self.valid)
        #expect(throws: ConfigError.self) { try config.database("billing") }
        let error = #expect(throws: ConfigError.self) { try config.image("pg16") }
        #expect(error?.description == "unknown image \"pg16\" (the config defines: pg15, pg15-patched)")
    }

    @Test func databaseOnAnUnknownImageIsRejected() {
        let text = Self.valid.replacingOccurrences(of: "image: pg15\n", with: "image: pg14\n")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.description.contains("unknown image \"pg14\"") == true)
    }

    @Test func passwordInsideTheConninfoIsRejectedWithoutEchoingIt() {
        let text = Self.valid.replacingOccurrences(of: "postgres://app@", with: "postgres://app:hunter2@")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.description.contains("holds a password") == true)
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test func badDurationsAndSizesNameTheKey() throws {
        let text = Self.valid.replacingOccurrences(of: "holdFor: 3s", with: "holdFor: soon")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text) }
        #expect(error?.description.contains("catchUp.holdFor") == true)
        #expect(throws: ConfigError.self) { try ConfigValue.bytes("lots", at: "x") }
        #expect(try ConfigValue.bytes("512kB", at: "x") == 512 * 1024)
        #expect(try ConfigValue.duration("2m", at: "x") == .seconds(120))
    }

    @Test func secretFilesMustBePrivate() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "s3cret\n".write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o644)
        let error = #expect(throws: ConfigError.self) { try Secret.file(path).value() }
        #expect(error?.description.contains("0600") == true)
        chmod(path, 0o600)
        #expect(try Secret.file(path).value() == "s3cret")
        #expect(throws: ConfigError.self) { try Secret.environment("NOPE_NOT_SET").value(environment: [:]) }
        #expect(try Secret.environment("P").value(environment: ["P": "x"]) == "x")
    }

    /// `{file: open.pw}` is the config file's directory's, whatever the working directory;
    /// a missing file's error names the path that was looked for.
    @Test func relativeSecretFilesAreTheConfigFilesDirectorys() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("secrets-\(UUID())").path
        try FileManager.default.createDirectory(atPath: "\(directory)/keys", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, value) in [
            ("open.pw", "open-secret"), ("keys/repl.pw", "repl-secret"), ("bouncer.pw", "bouncer-secret"),
            ("store.pw", "store-secret"),
        ] {
            let path = "\(directory)/\(name)"
            try "\(value)\n".write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
        }
        let text =
            Self.valid
            .replacingOccurrences(of: "password: {env: ORDERS_PASSWORD}", with: "password: {file: open.pw}")
            .replacingOccurrences(
                of: "password: {file: /etc/changeover/repl}", with: "password: {file: ./keys/repl.pw}"
            )
            .replacingOccurrences(
                of: "router: {kind: hook, command: \"/usr/local/bin/repoint\", timeout: 5s}",
                with:
                    #"router: {kind: pgbouncer, admin: "host=127.0.0.1 port=6432 user=pgbouncer", password: {file: bouncer.pw}, include: db.ini}"#
            )
            + "\nstore: {kind: postgres, conninfo: \"host=db1 dbname=changeover user=ctl\", password: {file: store.pw}}\n"
        let path = "\(directory)/fleet.yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        // The working directory holds no such files.
        #expect(FileManager.default.currentDirectoryPath != directory)
        let config = try FleetConfig.load(path: path, mergingInventory: false)
        let db = try config.database("orders")
        #expect(db.password == .file("\(directory)/open.pw"))
        #expect(try db.password?.value() == "open-secret")
        #expect(try db.replicationPassword?.value() == "repl-secret")
        #expect(try db.router.password?.value() == "bouncer-secret")
        #expect(try config.store.password?.value() == "store-secret")

        try text.replacingOccurrences(of: "{file: open.pw}", with: "{file: missing.pw}")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let missing = try FleetConfig.load(path: path, mergingInventory: false).database("orders")
        let error = #expect(throws: ConfigError.self) { try missing.password?.value() }
        #expect(
            error?.description == "cannot read the secret file \(directory)/missing.pw", "\(error?.description ?? "")")
    }

    @Test func windowsAndFreezesParseInEveryForm() throws {
        let text = Self.valid.replacingOccurrences(
            of: "    switchover: {replayTimeout: 20s}",
            with: """
                    switchover: {replayTimeout: 20s}
                    windows:
                      - "Sundays 22:00 Europe/Berlin"
                      - "sat:23:00-sun:01:00"
                      - {day: wednesday, start: "03:30", duration: 90m, zone: America/New_York}
                    freezes: ["2026-12-24..2026-12-26 Europe/Berlin"]
                freezes: ["2026-12-31..2027-01-01"]
                """)
        let config = try FleetConfig.parse(text)
        let db = try config.database("orders")
        #expect(db.windows.count == 3)
        #expect(db.windows[0].timeZone.identifier == "Europe/Berlin" && db.windows[0].hour == 22)
        #expect(db.windows[1].duration == .seconds(7200))
        #expect(db.windows[2].duration == .seconds(5400) && db.windows[2].timeZone.identifier == "America/New_York")
        #expect(config.freezes.count == 1 && db.freezes.count == 1)
        // Christmas Eve 2026 is a Thursday; the Berlin freeze and the fleet freeze both apply.
        let christmas = Date(timeIntervalSince1970: 1_798_070_400)  // 2026-12-24T00:00:00Z
        let openings = config.schedule(for: db).openings(after: christmas, count: 4)
        #expect(!openings.isEmpty)
        for opening in openings {
            #expect(
                !(opening.start < Date(timeIntervalSince1970: 1_798_326_000) && opening.end > christmas),
                "an opening inside the Berlin freeze: \(opening)")
        }
    }

    @Test func malformedWindowNamesTheBadPart() {
        let text = Self.valid.replacingOccurrences(
            of: "    switchover: {replayTimeout: 20s}",
            with: "    switchover: {replayTimeout: 20s}\n    windows: [\"sux:22:00-sun:23:30\"]")
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(text, source: "f.yaml") }
        #expect(error?.description.contains("bad day \"sux\"") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func postmasterOptsAreSplitLikePgCtlWritesThem() {
        let text =
            "/usr/lib/postgresql/15/bin/postgres \"-D\" \"/tmp/a b/data\" \"-p\" \"5432\" \"-c\" \"listen_addresses=127.0.0.1\"\n"
        #expect(
            LocalPostgres.parseOptions(text) == [
                "/usr/lib/postgresql/15/bin/postgres", "-D", "/tmp/a b/data", "-p", "5432", "-c",
                "listen_addresses=127.0.0.1",
            ])
    }
}
