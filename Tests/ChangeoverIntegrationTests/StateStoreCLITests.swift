import Foundation
import Synchronization
import Testing

@testable import ChangeoverCore

/// The SQLite state store shared by processes: `status` reading while another process writes,
/// and a store that is not a database, as the CLI reports them.
@Suite(.serialized) struct StateStoreCLITests {
    func fleet() throws -> (root: String, config: String) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("store-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let config = "\(root)/changeover.yaml"
        try """
        stateDirectory: \(root)/state
        provisioner: {kind: local, root: \(root)/nodes}
        """.write(toFile: config, atomically: true, encoding: .utf8)
        return (root, config)
    }

    @Test func statusReadsWhileAnotherProcessWrites() async throws {
        let (root, config) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = StateStore(directory: "\(root)/state")
        let start = Date(timeIntervalSince1970: 1_790_000_000)
        let record: @Sendable (Int) -> ChangeoverRecord = { n in
            ChangeoverRecord(
                id: "orders-\(n)", database: "orders", fromImage: "pg15", toImage: "pg15-patched",
                machine: ChangeoverMachine(step: n % 3 == 0 ? .done : .catchUp),
                startedAt: start.addingTimeInterval(Double(n)), updatedAt: start.addingTimeInterval(Double(n)),
                facts: ["slot": "changeover_\(n)"], timings: [])
        }
        try store.save(record(0))
        // This process writes on a thread of its own, synced and unsynced, as a controller does,
        // while `status` processes read.
        let stop = Mutex(false)
        let written = Mutex(0)
        let writerError = Mutex<String?>(nil)
        Thread.detachNewThread {
            var n = 1
            while !stop.withLock({ $0 }) {
                do {
                    try store.save(record(n), sync: n % 2 == 0)
                    store.saveProgress("copied \(n)", of: "orders-\(n)")
                } catch {
                    writerError.withLock { $0 = "\(error)" }
                    break
                }
                written.withLock { $0 = n }
                n += 1
            }
        }
        var listed: [Int] = []
        for _ in 0..<8 {
            let result = try await CLI.run(["status", "--config", config, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let listing = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(listing?["schemaVersion"] as? Int == 1)
            let reports = listing?["changeovers"] as? [Any]
            listed.append(reports?.count ?? -1)
        }
        stop.withLock { $0 = true }
        try await Task.sleep(for: .milliseconds(100))
        #expect(writerError.withLock { $0 } == nil)
        #expect(written.withLock { $0 } > 8, "the writer hardly wrote")
        #expect(listed.allSatisfy { $0 >= 1 && $0 <= 20 }, "\(listed)")
        let newest = try #require(try store.changeovers().first)
        #expect(newest.id == "orders-\(written.withLock { $0 })")
    }

    @Test func aStateFileThatIsNotADatabaseIsOneLine() async throws {
        let (root, config) = try fleet()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/state", withIntermediateDirectories: true)
        try String(repeating: "garbage ", count: 1000).write(
            toFile: "\(root)/state/state.sqlite", atomically: true, encoding: .utf8)
        let result = try await CLI.run(["status", "--config", config])
        #expect(result.status != 0)
        #expect(
            result.stderrLines == [
                "changeover: error: cannot use the state store \(root)/state/state.sqlite: file is not a database (SQLite error 26)"
            ],
            "\(result.stderr)")
    }
}
