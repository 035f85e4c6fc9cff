import ChangeoverCore
import ChangeoverLab
import Foundation
import Logging
import Testing

@testable import ChangeoverDaemon

/// The daemon's plans of scheduled changeovers, in process: a plan is made once and stands, tick
/// after tick, until what it was made from changes. No server runs: the primary's port is
/// closed, so the data-size probe finds nothing and the lead comes from the defaults.
@Suite struct SchedulePlanTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("plans-\(UUID().uuidString)").path
    var configPath: String { "\(directory)/fleet.yaml" }

    func writeConfig(windowAt start: Date) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
        stateDirectory: \(directory)/state
        provisioner: {root: \(directory)/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=\(FreePort.next()) user=postgres dbname=postgres"
            oneOffWindows: ["\(ScheduleText.iso(start)) for 60m"]
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    func made(_ daemon: ChangeoverDaemon, _ id: String) throws -> (at: Date, text: String) {
        try daemon.state.withLock { state in
            let cached = try #require(state.planCache[id])
            let text = try #require(state.plans[id]).text(at: Date())
            return (cached.madeAt, text)
        }
    }

    @Test func aPlanStandsUntilTheConfigOrTheDatabasesHistoryChanges() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let now = Date()
        let first = Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 60).rounded(.down) * 60 + 3 * 86_400)
        try writeConfig(windowAt: first)
        let config = try FleetConfig.load(path: configPath)
        let daemon = ChangeoverDaemon(
            configPath: configPath, config: config, environment: [:], logger: Logger(label: "test"))
        let record = try ChangeoverRunner(config: config).schedule(
            database: "orders", image: "pg15-patched",
            policy: SwitchPolicy(mode: .window), source: "test")

        await daemon.tick()
        let made = try made(daemon, record.id)
        #expect(made.text.contains("provisioning starts in"), "\(made.text)")
        #expect(made.text.contains("(\(ScheduleText.iso(first)))"), "\(made.text)")
        await daemon.tick()
        #expect(try self.made(daemon, record.id).at == made.at, "the plan was made again from the same inputs")

        // Another changeover of the database ended: its history (the estimates) may have changed.
        var ended = record
        ended.id = "orders-earlier"
        ended.machine = ChangeoverMachine(step: .done, failure: nil)
        ended.updatedAt = Date()
        try StateStore(config: config).save(ended)
        await daemon.tick()
        let remade = try self.made(daemon, record.id)
        #expect(remade.at > made.at, "the plan stood although the database's history changed")

        // A reloaded config with the window moved: the plan follows it.
        let moved = first.addingTimeInterval(2 * 86_400)
        try writeConfig(windowAt: moved)
        daemon.reload()
        await daemon.tick()
        let reloaded = try self.made(daemon, record.id)
        #expect(reloaded.at > remade.at)
        #expect(reloaded.text.contains("(\(ScheduleText.iso(moved)))"), "\(reloaded.text)")
        #expect(!reloaded.text.contains(ScheduleText.iso(first)), "\(reloaded.text)")
    }
}
