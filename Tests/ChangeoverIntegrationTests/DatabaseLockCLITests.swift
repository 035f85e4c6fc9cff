import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// The database lock between two processes: while this one holds a database's lock as a daemon
/// recording its `schedule:` entries holds it, `changeover schedule` in another is refused and
/// records nothing; once it is let go, the same command records the changeover.
@Suite struct DatabaseLockCLITests {
    @Test func scheduleInAnotherProcessIsRefusedWhileTheDatabaseIsLockedToRecord() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("lock-cli-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = "\(directory)/fleet.yaml"
        try """
        stateDirectory: \(directory)/state
        provisioner: {kind: local, root: \(directory)/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched: {binDirectory: /usr/lib/postgresql/15/bin, environment: {CHANGEOVER_IMAGE: pg15-patched}}
        databases:
          orders:
            engine: postgres
            image: pg15
            primary: "host=127.0.0.1 port=\(FreePort.next()) user=postgres dbname=postgres"
            windows: [{day: sunday, start: "22:00", duration: 120m, zone: UTC}]

        """.write(toFile: config, atomically: true, encoding: .utf8)
        let schedule = [
            "schedule", "--config", config, "--database", "orders", "--image", "pg15-patched", "--deadline",
            "2030-01-01T00:00:00Z",
        ]
        let store = StateStore(directory: "\(directory)/state")
        var held: DatabaseLock? = try store.lockToRecord(database: "orders", changeover: "orders-0", actor: "test")
        let refused = try await CLI.run(schedule)
        #expect(
            refused.status != 0 && refused.stderr.contains("orders is locked by \(StateStore.recordingHolder)"),
            "\(refused.status): \(refused.stderr)")
        #expect(try store.changeovers(database: "orders").isEmpty)
        withExtendedLifetime(held) {}
        held = nil
        let recorded = try await CLI.run(schedule)
        #expect(recorded.status == 0, "\(recorded.stderr)")
        #expect(try store.changeovers(database: "orders").count == 1)
    }
}
