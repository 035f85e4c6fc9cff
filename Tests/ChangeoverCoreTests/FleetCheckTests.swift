import Foundation
import Testing

@testable import ChangeoverCore

/// The offline findings of `changeover check`, on bin directories and secret files made here.
@Suite struct FleetCheckTests {
    /// A directory holding an executable file for each of `binaries`.
    func binDirectory(_ binaries: [String]) throws -> String {
        let directory = NSTemporaryDirectory() + "fleetcheck-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for binary in binaries {
            FileManager.default.createFile(
                atPath: "\(directory)/\(binary)", contents: Data("#!/bin/sh\n".utf8),
                attributes: [.posixPermissions: 0o755])
        }
        return directory
    }

    @Test func anImageHoldsTheBinariesOfTheEnginesThatUseIt() throws {
        let postgres = try binDirectory(["postgres", "pg_basebackup", "pg_controldata"])
        let redis = try binDirectory(["redis-server"])
        let partial = try binDirectory(["postgres"])
        let notExecutable = try binDirectory([])
        FileManager.default.createFile(
            atPath: "\(notExecutable)/redis-server", contents: Data(), attributes: [.posixPermissions: 0o644])
        defer {
            for path in [postgres, redis, partial, notExecutable] { try? FileManager.default.removeItem(atPath: path) }
        }
        let config = try FleetConfig.parse(
            """
            stateDirectory: /nonexistent/state
            provisioner: {kind: local, root: /nonexistent/nodes}
            images:
              pg: {binDirectory: \(postgres)}
              pg-new: {binDirectory: \(partial)}
              rd: {binDirectory: \(redis)}
              spare: {binDirectory: \(redis)}
              wrong: {binDirectory: \(postgres)}
              broken: {binDirectory: \(notExecutable)}
            databases:
              orders: {engine: postgres, image: pg, primary: "host=127.0.0.1 port=5432 user=postgres"}
              cache: {engine: redis, image: wrong, primary: "127.0.0.1:6379"}
            schedule:
              - {database: orders, image: pg-new}
            """)
        let checks = FleetCheck.offline(config, now: utc("2026-12-07T00:00:00Z"), environment: [:])
        let images = Dictionary(uniqueKeysWithValues: checks.filter { $0.scope == .image }.map { ($0.subject, $0) })
        #expect(images["pg"]?.passed == true)
        #expect(images["rd"]?.passed == true)
        #expect(images["spare"]?.passed == true && images["spare"]?.detail.contains("used by no database") == true)
        #expect(
            images["pg-new"]?.passed == false
                && images["pg-new"]?.detail.hasSuffix("lacks pg_basebackup, pg_controldata") == true,
            "\(images["pg-new"]?.detail ?? "")")
        #expect(images["wrong"]?.passed == false && images["wrong"]?.detail.hasSuffix("lacks redis-server") == true)
        #expect(images["broken"]?.passed == false)
        // Databases without windows are said so; nothing else fails.
        #expect(
            checks.filter { $0.scope == .windows }.allSatisfy {
                $0.passed && $0.detail.hasPrefix("no maintenance windows")
            })
        // With `only`, the findings of that database and the images it runs or is scheduled to.
        let orders = FleetCheck.offline(config, only: "orders", now: utc("2026-12-07T00:00:00Z"), environment: [:])
        #expect(Set(orders.filter { $0.scope == .image }.map(\.subject)) == ["pg", "pg-new"])
    }

    @Test func secretsAreNamedByTheirSourceNeverByTheirValue() throws {
        let directory = try binDirectory([])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "the-file-secret\n".write(toFile: "\(directory)/ok.pw", atomically: true, encoding: .utf8)
        chmod("\(directory)/ok.pw", 0o600)
        try "the-open-secret\n".write(toFile: "\(directory)/open.pw", atomically: true, encoding: .utf8)
        chmod("\(directory)/open.pw", 0o640)
        let config = try FleetConfig.parse(
            """
            stateDirectory: /nonexistent/state
            provisioner: {kind: local, root: /nonexistent/nodes}
            images: {pg: {binDirectory: /nonexistent/bin}}
            databases:
              a: {engine: postgres, image: pg, primary: "host=h user=u", password: {file: \(directory)/ok.pw},
                  replication: {user: r, password: {file: \(directory)/open.pw}}, windows: ["Sundays 22:00 UTC"]}
              b: {engine: postgres, image: pg, primary: "host=h user=u", password: {env: B_PASSWORD}}
            """)
        let checks = FleetCheck.offline(
            config, now: utc("2026-12-07T03:00:00Z"), environment: ["B_PASSWORD": "the-env-secret"])
        let secrets = checks.filter { $0.scope == .secret }
        #expect(secrets.map(\.passed) == [true, false, true], "\(secrets)")
        #expect(secrets[1].detail.contains("readable by its group (mode 640); make it 0600"), "\(secrets[1].detail)")
        for check in checks {
            #expect(
                !check.detail.contains("the-file-secret") && !check.detail.contains("the-open-secret")
                    && !check.detail.contains("the-env-secret"))
        }
        // The next opening of a's window, in its zone and in UTC: after Sunday's closed at 02:00 on
        // Monday the 7th, the next Sunday's; one hour earlier, Sunday's is open.
        let window = try #require(checks.first { $0.scope == .windows && $0.subject == "a" })
        #expect(window.detail == "next opening Sun 22:00 UTC (2026-12-13T22:00:00Z) for 4 h", "\(window.detail)")
        let open = FleetCheck.offline(config, only: "a", now: utc("2026-12-07T01:00:00Z"), environment: [:]).first {
            $0.scope == .windows
        }
        #expect(
            open?.detail == "next opening Sun 22:00 UTC (2026-12-06T22:00:00Z) for 4 h (open now)",
            "\(open?.detail ?? "")")
    }

    @Test func followersUnderTheStateDirectoryAreRefusedWhenServersRunAsAnotherUser() throws {
        func config(state: String, root: String, runAs: String? = nil) throws -> FleetConfig {
            try FleetConfig.parse(
                """
                stateDirectory: \(state)
                provisioner: {kind: local, root: \(root)\(runAs.map { ", runAs: \($0)" } ?? "")}
                images: {pg: {binDirectory: /nonexistent/bin}}
                databases: {}
                """)
        }
        let inside = try config(state: "/var/lib/changeover", root: "/var/lib/changeover/nodes")
        #expect(
            FleetCheck.nodesUnreachable(inside, uid: 0)?.hasPrefix(
                "provisioner.root /var/lib/changeover/nodes is inside stateDirectory") == true)
        // Not root: servers run as the controller's own user.
        #expect(FleetCheck.nodesUnreachable(inside, uid: 1000) == nil)
        #expect(
            FleetCheck.nodesUnreachable(
                try config(state: "/var/lib/changeover", root: "/var/lib/changeover-nodes"), uid: 0) == nil)
        #expect(
            FleetCheck.nodesUnreachable(
                try config(state: "/var/lib/changeover", root: "/var/lib/changeover/nodes", runAs: "root"), uid: 0)
                == nil)
        // A state directory that exists and lets others through is fine; a 0700 one is not.
        let made = NSTemporaryDirectory() + "fleetcheck-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: made, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        defer { try? FileManager.default.removeItem(atPath: made) }
        #expect(FleetCheck.nodesUnreachable(try config(state: made, root: "\(made)/nodes"), uid: 0) == nil)
        chmod(made, 0o700)
        #expect(FleetCheck.nodesUnreachable(try config(state: made, root: "\(made)/nodes"), uid: 0) != nil)
    }
}
