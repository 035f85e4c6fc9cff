import Foundation
import Synchronization
import Testing

@testable import ChangeoverCore

/// The SQLite state store: records, history, notes, the import of a JSON state directory, and
/// what several connections (as several processes have) see. Serialized: the latency figures
/// are only meaningful when nothing else writes to the disk from this process.
@Suite(.serialized) struct StateStoreTests {
    func temporaryDirectory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("state-store-\(UUID().uuidString)").path
    }

    func record(
        _ id: String, database: String = "orders", started: Date, step: ChangeoverStep = .catchUp,
        timings: [ChangeoverRecord.StepTiming] = [], facts: Facts = [:]
    ) -> ChangeoverRecord {
        ChangeoverRecord(
            id: id, database: database, fromImage: "pg15", toImage: "pg15-patched",
            machine: ChangeoverMachine(step: step),
            startedAt: started, updatedAt: started.addingTimeInterval(90),
            facts: Facts(["slot": "changeover_\(id)", "follower.port": "54321", "final.position": "0/3000148"])
                .merging(facts) { _, new in new },
            timings: timings, policy: SwitchPolicy(mode: .window, deadline: utc("2026-02-01T00:00:00Z")))
    }

    func switchover(_ ms: [Double]) -> [ChangeoverRecord.StepTiming] {
        [
            .init(step: .preflight, milliseconds: 20, outcome: "succeeded"),
            .init(step: .catchUp, milliseconds: 3000, outcome: "succeeded", retries: 2),
        ]
            + zip([ChangeoverStep.fence, .finalSync, .promote, .repoint, .verify, .settle], ms).map {
                .init(step: $0, milliseconds: $1, outcome: "succeeded")
            }
    }

    @Test func aSavedRecordReadsBackAsItWasWritten() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        var saved = record("orders-1", started: utc("2026-01-05T10:00:00Z"), timings: switchover([10, 5]))
        saved.stopped = StopNote(
            kind: .stopped, reason: "SIGTERM received", step: .catchUp, by: "ops@host pid 1", daemon: true,
            at: utc("2026-01-05T10:01:00Z"))
        try store.save(saved)
        #expect(try store.changeover("orders-1") == saved)
        saved.facts["lsn"] = "0/4000000"
        saved.stopped = nil
        try store.save(saved, sync: false)
        #expect(try store.changeover("orders-1") == saved)
        #expect(try store.changeovers() == [saved])
        #expect(try store.changeover("missing") == nil)

        let state = DatabaseState(
            database: "orders", image: "pg15-patched", primary: "host=127.0.0.1 port=54321 user=postgres",
            dataDirectory: "/srv/nodes/f1", changedAt: utc("2026-01-05T10:02:00Z"), changeover: "orders-1",
            container: "orders-f1")
        try store.save(state)
        #expect(try store.database("orders") == state)
        #expect(try store.database("billing") == nil)
        var billing = state
        billing.database = "billing"
        billing.image = "pg15"
        try store.save(billing)
        #expect(try store.databases() == ["billing": billing, "orders": state])

        // Another connection, as another process has, reads the same.
        let other = try SQLiteStateStorage(directory: directory)
        #expect(try other.changeover("orders-1") == saved)
        #expect(try other.database("orders") == state)
        // The file holds conninfos: readable by its owner only.
        let attributes = try FileManager.default.attributesOfItem(atPath: "\(directory)/state.sqlite")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    /// The index decodes a record once and again only when its row's `updatedAt` changed (as
    /// every writer's save changes it); ended changeovers are kept without their records.
    @Test func theIndexReadsAgainOnlyWhatWasSavedAgain() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        let index = ChangeoverIndex()
        #expect(try index.look(store).isEmpty)
        var older = record("orders-1", started: utc("2026-01-05T10:00:00Z"))
        let newer = record("billing-1", database: "billing", started: utc("2026-01-05T11:00:00Z"), step: .done)
        try store.save(older)
        try store.save(newer)
        #expect(
            try store.changeoverStamps() == [
                ChangeoverStamp(id: "billing-1", updatedAt: newer.updatedAt.timeIntervalSince1970),
                ChangeoverStamp(id: "orders-1", updatedAt: older.updatedAt.timeIntervalSince1970),
            ])
        var entries = try index.look(store)
        #expect(entries.map(\.id) == ["billing-1", "orders-1"])
        #expect(
            entries[0].record == nil && entries[0].step == .done && entries[0].toImage == "pg15-patched"
                && !entries[0].canContinue)
        #expect(entries[1].record == older)

        // Saved with the same stamp (no writer does): the kept record stands.
        older.facts["probe"] = "unseen"
        try store.save(older)
        #expect(try index.look(store)[1].record?.facts["probe"] == nil)
        // Saved as writers save, with a new updatedAt: read again.
        older.updatedAt = older.updatedAt.addingTimeInterval(1)
        try store.save(older)
        entries = try index.look(store)
        #expect(entries[1].record == older)
        #expect(entries[1].record?.facts["probe"] == "unseen")

        // A new changeover joins in its place in the order; a forgotten index reads all again.
        let newest = record("orders-2", started: utc("2026-01-06T10:00:00Z"))
        try store.save(newest)
        #expect(try index.look(store).map(\.id) == ["orders-2", "billing-1", "orders-1"])
        #expect(try store.changeovers(ids: ["orders-2", "missing"]).map(\.record) == [newest])
        index.forget()
        #expect(try index.look(store).compactMap(\.record) == [newest, older])
    }

    @Test func theIndexReadsNothingWhileTheStoreIsUnchanged() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        let index = ChangeoverIndex()
        try store.save(record("orders-1", started: utc("2026-01-05T10:00:00Z")))
        let version = try #require(try store.changeVersion())
        #expect(try index.look(store).map(\.id) == ["orders-1"])
        let generation = index.generation
        #expect(try index.look(store).map(\.id) == ["orders-1"])
        #expect(index.generation == generation, "nothing was written, yet the look found a change")
        #expect(try store.changeVersion() == version)

        // A database's state counts as a change too (a finished changeover writes one).
        try store.save(
            DatabaseState(
                database: "orders", primary: "host=127.0.0.1 port=5433", image: "pg15-patched",
                changeover: "orders-1", changedAt: utc("2026-01-05T10:30:00Z")))
        let moved = try #require(try store.changeVersion())
        #expect(moved != version)
        #expect(try index.look(store).map(\.id) == ["orders-1"])
        #expect(index.generation == generation, "the changeovers are the same")

        // What the caller saved and remembers is not read again: the remembered copy stands.
        let second = record("orders-2", started: utc("2026-01-06T10:00:00Z"))
        try store.save(second)
        var remembered = second
        remembered.facts["probe"] = "as remembered"
        index.remember([remembered])
        let entries = try index.look(store)
        #expect(entries.map(\.id) == ["orders-2", "orders-1"])
        #expect(entries[0].record?.facts["probe"] == "as remembered")
        #expect(index.generation > generation)
        #expect(try store.changeVersion() != moved)
    }

    @Test func idsCarryTheUTCSecond() {
        let id = ChangeoverRunner.newID(database: "orders", at: utc("2026-01-05T09:08:07Z").addingTimeInterval(0.9))
        #expect(id.hasPrefix("orders-20260105-090807-"), "\(id)")
        #expect(id.split(separator: "-").last.map { !$0.isEmpty && $0.allSatisfy(\.isHexDigit) } == true, "\(id)")
        #expect(Campaign.newID(at: utc("2027-12-31T23:59:59Z")).hasPrefix("campaign-20271231-235959-"))
    }

    @Test func changeoversAreListedNewestFirst() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        let days = [3, 1, 4, 2, 5]
        for day in days {
            try store.save(
                record(
                    "c\(day)", database: day % 2 == 0 ? "orders" : "billing", started: utc("2026-01-0\(day)T00:00:00Z"))
            )
        }
        #expect(try store.changeovers().map(\.id) == ["c5", "c4", "c3", "c2", "c1"])
        // An update does not move a changeover in the list.
        var oldest = try #require(try store.changeover("c1"))
        oldest.updatedAt = utc("2026-01-09T00:00:00Z")
        try store.save(oldest)
        #expect(try store.changeovers().map(\.id) == ["c5", "c4", "c3", "c2", "c1"])
    }

    @Test func readingADirectoryThatHoldsNothingCreatesNothing() throws {
        let directory = temporaryDirectory()
        let store = StateStore(directory: directory)
        #expect(try store.changeovers().isEmpty)
        #expect(try store.changeover("x") == nil)
        #expect(try store.database("orders") == nil)
        #expect(store.progress(of: "x") == nil && store.lastRetry(of: "x") == nil)
        #expect(try store.estimateHistory(database: "orders").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory))
    }

    @Test func aWriterAndReadersOnTheirOwnConnectionsNeverFail() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let writer = try SQLiteStateStorage(directory: directory)
        let readers = [try SQLiteStateStorage(directory: directory), try SQLiteStateStorage(directory: directory)]
        let count = 150
        let failures = Mutex<[String]>([])
        let done = Mutex(false)
        let start = utc("2026-01-01T00:00:00Z")
        let group = DispatchGroup()
        // Threads of their own, as processes would be: nothing here runs on the cooperative pool.
        for (index, reader) in readers.enumerated() {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var last = 0
                while !done.withLock({ $0 }) {
                    do {
                        let seen = try reader.changeovers()
                        if seen.count < last {
                            failures.withLock { $0.append("reader \(index) saw \(seen.count) after \(last)") }
                        }
                        last = seen.count
                        _ = try reader.note(.progress, of: "w0")
                    } catch {
                        failures.withLock { $0.append("reader \(index): \(error)") }
                        return
                    }
                }
            }
        }
        group.enter()
        Thread.detachNewThread {
            defer {
                done.withLock { $0 = true }
                group.leave()
            }
            do {
                for n in 0..<count {
                    var saved = self.record("w\(n)", started: start.addingTimeInterval(Double(n)))
                    try writer.save(saved, durable: n % 2 == 0)
                    saved.machine = ChangeoverMachine(step: .done)
                    try writer.finish(saved, durations: DurationSample.samples(of: saved))
                    try writer.save(ChangeoverNote(changeover: "w0", kind: .progress, text: "copied \(n)", at: Date()))
                }
            } catch {
                failures.withLock { $0.append("writer: \(error)") }
            }
        }
        group.wait()
        #expect(failures.withLock { $0 } == [])
        #expect(try readers[0].changeovers().count == count)
        #expect(try readers[1].changeovers().allSatisfy { $0.machine.step == .done })
        #expect(try readers[1].note(.progress, of: "w0")?.text == "copied \(count - 1)")
    }

    /// What the previous version wrote: one pretty-printed JSON file per changeover and database.
    func writeJSON(_ value: some Encodable, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        try FileManager.default.createDirectory(
            atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
            withIntermediateDirectories: true)
        try encoder.encode(value).write(to: URL(fileURLWithPath: path))
    }

    @Test func aJSONStateDirectoryIsImportedOnceOnFirstOpen() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let finished = record(
            "orders-old", started: utc("2026-01-01T00:00:00Z"), step: .done,
            timings: switchover([400, 100, 200, 100, 100, 100]),
            facts: ["basebackup.bytes": "1000000000", "basebackup.seconds": "10"])
        var interrupted = record("orders-new", started: utc("2026-01-02T00:00:00Z"), step: .promote)
        interrupted.policy = nil  // written before scheduling existed
        let state = DatabaseState(
            database: "orders", image: "pg15", primary: "host=127.0.0.1 port=5432", dataDirectory: nil,
            changedAt: utc("2026-01-01T00:05:00Z"), changeover: "orders-old")
        try writeJSON(finished, to: "\(directory)/changeovers/orders-old.json")
        try writeJSON(interrupted, to: "\(directory)/changeovers/orders-new.json")
        try writeJSON(state, to: "\(directory)/databases/orders.json")
        try "copying".write(toFile: "\(directory)/changeovers/orders-new.progress", atomically: true, encoding: .utf8)

        let store = StateStore(directory: directory)
        #expect(try store.changeovers() == [interrupted, finished])
        #expect(try store.changeover("orders-new")?.machine.step == .promote, "resume starts from the recorded step")
        #expect(try store.database("orders") == state)
        // The finished one's durations join the history: the estimate is 3 × its 1 s switchover.
        let history = try store.estimateHistory(database: "orders")
        #expect(
            SwitchoverEstimate.switchover(history: history, database: "orders", policy: SchedulingPolicy()).duration
                == .seconds(3))
        #expect(
            SwitchoverEstimate.throughput(history: history, policy: SchedulingPolicy()).bytesPerSecond == 100_000_000)

        // Once: a changed record is not overwritten by its old file when the file is opened again.
        interrupted.facts["new.port"] = "54322"
        try store.save(interrupted)
        let reopened = try SQLiteStateStorage(directory: directory)
        #expect(try reopened.changeover("orders-new") == interrupted)
        #expect(try reopened.changeovers().count == 2)
        #expect(try reopened.durations(database: "orders", step: DurationSample.switchover, limit: 10).count == 1)
    }

    @Test func aJSONFileThatDoesNotDecodeStopsTheImportWithItsName() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: "\(directory)/changeovers", withIntermediateDirectories: true)
        try "{\"id\": \"half".write(toFile: "\(directory)/changeovers/orders-1.json", atomically: true, encoding: .utf8)
        let error = #expect(throws: StoreError.self) { try StateStore(directory: directory).changeovers() }
        let text = error?.description ?? ""
        #expect(text.hasPrefix("cannot import the state file \(directory)/changeovers/orders-1.json: "), "\(text)")
        #expect(!text.contains("\n"))
    }

    @Test func finishedChangeoversFeedTheSwitchoverEstimate() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        var policy = SchedulingPolicy()
        policy.switchoverEstimate = .seconds(300)
        func estimate() throws -> SwitchoverEstimate.Estimate {
            SwitchoverEstimate.switchover(
                history: try store.estimateHistory(database: "orders"), database: "orders", policy: policy)
        }
        #expect(try estimate().duration == .seconds(300), "the default without history")

        // Six completed changeovers: the estimate is 3 × the longest of the last five.
        let seconds = [9.0, 0.5, 1.0, 2.0, 1.5, 0.8]
        for (n, total) in seconds.enumerated() {
            var finished = record(
                "orders-\(n)", started: utc("2026-01-0\(n + 1)T00:00:00Z"), step: .done,
                timings: switchover([total * 1000 / 2, total * 1000 / 2]))
            finished.updatedAt = finished.startedAt.addingTimeInterval(60)
            try store.finish(finished, engine: "postgres")
            try store.finish(finished, engine: "postgres")  // finishing again replaces, never adds
        }
        #expect(try estimate().duration == .seconds(6), "3 × 2 s; the 9 s one is older than the last five")
        #expect(try estimate().basis.contains("the last 5 switchovers"))
        #expect(try store.durations(database: "orders", step: DurationSample.switchover, limit: 100).count == 6)
        #expect(
            try store.durations(step: ChangeoverStep.catchUp.rawValue, limit: 100).allSatisfy {
                $0.engine == "postgres" && $0.outcome == "succeeded"
            })

        // A failed changeover keeps its step durations but measures no switchover; other databases do not count.
        let failed = record(
            "orders-failed", started: utc("2026-01-08T00:00:00Z"), step: .failed,
            timings: [.init(step: .fence, milliseconds: 60_000, outcome: "failed")])
        try store.finish(failed, engine: "postgres")
        try store.finish(
            record(
                "billing-1", database: "billing", started: utc("2026-01-09T00:00:00Z"), step: .done,
                timings: switchover([50_000])), engine: "redis")
        #expect(try estimate().duration == .seconds(6))
        #expect(
            try store.durations(database: "orders", step: ChangeoverStep.fence.rawValue, limit: 1).first?.outcome
                == "failed")
    }

    @Test func aFileThatIsNotADatabaseGivesOneLine() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try String(repeating: "not an sqlite file\n", count: 300).write(
            toFile: "\(directory)/state.sqlite", atomically: true, encoding: .utf8)
        let error = #expect(throws: StoreError.self) { try StateStore(directory: directory).changeovers() }
        let text = error?.description ?? ""
        #expect(
            text == "cannot use the state store \(directory)/state.sqlite: file is not a database (SQLite error 26)",
            "\(text)")

        // A directory where the file should be.
        let other = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: other) }
        try FileManager.default.createDirectory(atPath: "\(other)/state.sqlite", withIntermediateDirectories: true)
        let refused = #expect(throws: StoreError.self) {
            try StateStore(directory: other).save(record("x", started: Date()))
        }
        #expect(
            refused?.description.hasPrefix("cannot open the state store \(other)/state.sqlite: ") == true,
            "\(refused?.description ?? "")")
        #expect(refused?.description.contains("\n") == false)
    }

    @Test func notesKeepTheLatestOfTheirKind() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        store.saveProgress("copied 10%", of: "orders-1")
        store.saveProgress("copied 20%", of: "orders-1")
        #expect(store.progress(of: "orders-1") == "copied 20%")
        #expect(store.progress(of: "orders-2") == nil)
        let note = RetryNote(
            call: "read the follower's lag", attempt: 2, attempts: 5, error: "connection refused",
            delayMilliseconds: 200, at: utc("2026-01-01T00:00:00Z"))
        store.saveRetry(note, of: "orders-1")
        #expect(store.lastRetry(of: "orders-1") == note)
        #expect(try #require(store.progressNote(of: "orders-1")).at.timeIntervalSinceNow > -60)
    }

    @Test func theFileIsInWALModeAndSyncsFullyAgainAfterAnUnsyncedSave() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try SQLiteStateStorage(directory: directory)
        try storage.save(record("orders-1", started: utc("2026-01-01T00:00:00Z")), durable: false)
        let (journal, synchronous, checkpoint, timeout) = try storage.pool.write { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"),
                try Int.fetchOne(db, sql: "PRAGMA wal_autocheckpoint"), try Int.fetchOne(db, sql: "PRAGMA busy_timeout")
            )
        }
        #expect(journal == "wal")
        #expect(synchronous == 2, "FULL")
        #expect(checkpoint == 1000)
        #expect(timeout == 10_000)
        #expect(try storage.pool.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    /// How long a save takes, synced (before a step acts) and not (inside the write pause). The
    /// figures go to the output; docs/state-store.md quotes them.
    @Test func saveLatency() throws {
        let directory = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        var saved = record(
            "orders-1", started: utc("2026-01-01T00:00:00Z"), timings: switchover([1, 2, 3, 4, 5, 6]),
            facts: Facts(Dictionary(uniqueKeysWithValues: (0..<20).map { ("fact.\($0)", "value \($0)") })))
        try store.save(saved)
        func measure(sync: Bool) throws -> (median: Double, p99: Double) {
            let clock = ContinuousClock()
            var samples: [Double] = []
            for n in 0..<200 {
                saved.facts["n"] = String(n)
                let began = clock.now
                try store.save(saved, sync: sync)
                samples.append((clock.now - began).milliseconds)
            }
            samples.sort()
            return (samples[samples.count / 2], samples[samples.count * 99 / 100])
        }
        let synced = try measure(sync: true)
        let unsynced = try measure(sync: false)
        print(
            String(
                format: "state store save: synced median %.3f ms p99 %.3f ms; unsynced median %.3f ms p99 %.3f ms",
                synced.median, synced.p99, unsynced.median, unsynced.p99))
        #expect(unsynced.median < 5, "an unsynced save took \(unsynced.median) ms")
        #expect(try store.changeover("orders-1")?.facts["n"] == "199")
    }
}

/// Leases in the SQLite store: on one host the `flock` locks exclude, so a claim always
/// succeeds with the next token; a superseded token still fails its fenced writes.
@Suite struct SQLiteLeaseTests {
    @Test func claimsNumberTheTokensAndFenceTheSupersededHolder() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "state-lease-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        #expect(!store.isShared)
        #expect(try await store.lease(of: "orders") == nil)
        let first = try #require(
            try await store.claim(database: "orders", changeover: "c1", holder: "ops pid 1", daemon: false))
        let record = ChangeoverRecord(
            id: "c1", database: "orders", fromImage: "pg15", toImage: "pg15-patched", machine: ChangeoverMachine(),
            startedAt: Date(), updatedAt: Date(), facts: [:], timings: [])
        try store.save(record, lease: first)
        #expect(try await store.renew(first)?.token == 1)
        let second = try #require(
            try await store.claim(database: "orders", changeover: "c1", holder: "ops pid 2", daemon: true))
        #expect(second.token == 2)
        #expect(try await store.renew(first) == nil)
        #expect(throws: LeaseLost.self) { try store.save(record, lease: first) }
        try store.save(record, lease: second)
        try await store.release(first)
        #expect(try await store.lease(of: "orders")?.released == false)
        try await store.release(second)
        let state = try #require(try await store.lease(of: "orders"))
        #expect(state.released && state.lease.token == 2 && state.lease.holder == "ops pid 2")
        #expect(throws: LeaseLost.self) { try store.save(record, lease: second) }
    }

    /// A campaign's progress is written under its lease as a changeover's is: a holder whose
    /// lease was taken over writes nothing.
    @Test func aCampaignsProgressIsFencedByItsLease() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "state-lease-\(UUID().uuidString)"
        ).path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = StateStore(directory: directory)
        var campaign = Campaign(
            id: "campaign-1", image: "pg15-patched", from: nil, createdAt: Date(), createdBy: "ops", gate: nil,
            gateTimeout: .seconds(60), deadline: nil, maxParallel: nil, maxParallelPerHost: nil, maxFailures: 0,
            waves: [], leftOut: [])
        let first = try #require(
            try await store.claim(database: campaign.id, changeover: campaign.id, holder: "daemon A", daemon: true))
        try store.save(campaign, fencedBy: first)
        let second = try #require(
            try await store.claim(database: campaign.id, changeover: campaign.id, holder: "daemon B", daemon: true))
        campaign.current = 1
        #expect(throws: LeaseLost.self) { try store.save(campaign, fencedBy: first) }
        #expect(try store.campaign(campaign.id)?.current == 0)
        try store.save(campaign, fencedBy: second)
        #expect(try store.campaign(campaign.id)?.current == 1)
        try store.save(campaign, fencedBy: nil)
    }
}
