import Foundation
import Testing

@testable import ChangeoverCore

/// A temporary directory removed when the test finishes.
private final class AuditTestDirectory {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("changeover-audit-tests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

/// Thread-safe collector for the concurrency test.
private final class AuditTestCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [String] = []
    func add(_ error: String) {
        lock.lock()
        errors.append(error)
        lock.unlock()
    }
    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return errors
    }
}

private let auditTestBaseTime = Date(timeIntervalSince1970: 1_795_926_600.123)  // 2026-11-29T04:30:00.123Z

private func auditTestEntry(_ n: Int) -> AuditEntry {
    AuditEntry(
        changeover: "co-42", database: "orders", step: "catch-up", outcome: "succeeded",
        message: "step \(n) done", facts: ["lsn": "0/\(n)A0", "port": "5432"])
}

@discardableResult
private func auditTestWrite(_ count: Int, to path: String) throws -> [AuditRecord] {
    let log = try AuditLog(path: path)
    return try (1...count).map { n in
        try log.append(
            auditTestEntry(n), actor: "root@host pid 1234",
            time: auditTestBaseTime.addingTimeInterval(Double(n)))
    }
}

private func auditTestLines(_ path: String) throws -> [String] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }
}

private func auditTestWriteLines(_ lines: [String], to path: String) throws {
    try (lines.map { $0 + "\n" }.joined()).write(toFile: path, atomically: false, encoding: .utf8)
}

private func auditTestMode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}

@Suite("Audit log")
struct AuditLogTests {
    @Test func fiveRecordsVerifyIntact() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let written = try auditTestWrite(5, to: path)

        let result = AuditLog.verify(path: path)
        #expect(result.isIntact, "\(String(describing: result.problem))")
        #expect(result.records == 5)
        #expect(result.lastHash == written[4].hash)

        #expect(written.map(\.seq) == [1, 2, 3, 4, 5])
        #expect(written[0].prev == String(repeating: "0", count: 64))
        for i in 1..<5 { #expect(written[i].prev == written[i - 1].hash) }
        #expect(try AuditLog.read(path: path) == written)

        let lines = try auditTestLines(path)
        #expect(lines.count == 5)
        #expect(lines[0].contains(#""time":"2026-11-29T04:30:01.123Z""#))
        #expect(lines[0].hasSuffix(#","hash":"\#(written[0].hash)"}"#))
        #expect(lines[0].hasPrefix(#"{"actor":"root@host pid 1234","changeover":"co-42""#))
    }

    @Test func bodyHashCoversExactBytes() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let written = try auditTestWrite(1, to: path)
        let line = try auditTestLines(path)[0]
        let suffix = #","hash":"\#(written[0].hash)"}"#
        let body = String(line.dropLast(suffix.count)) + "}"
        #expect(AuditLineFormat.sha256Hex(Array(body.utf8)) == written[0].hash)
        #expect(!body.contains(#""hash""#))
    }

    @Test func alteredMiddleRecordIsDetected() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        var lines = try auditTestLines(path)
        #expect(lines[2].contains("step 3 done"))
        lines[2] = lines[2].replacingOccurrences(of: "step 3 done", with: "step 3 dune")
        try auditTestWriteLines(lines, to: path)

        let result = AuditLog.verify(path: path)
        #expect(result.problem?.kind == .hashMismatch)
        #expect(result.problem?.record == 3)
        #expect(result.records == 2)
        #expect(result.problem?.description == "record 3 was altered: its hash does not match its contents")
    }

    @Test func alteredLastRecordIsDetected() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        var lines = try auditTestLines(path)
        lines[4] = lines[4].replacingOccurrences(of: "\"5432\"", with: "\"5433\"")
        try auditTestWriteLines(lines, to: path)

        let result = AuditLog.verify(path: path)
        #expect(result.problem?.kind == .hashMismatch)
        #expect(result.problem?.record == 5)
        #expect(result.records == 4)
    }

    @Test func deletedMiddleLineIsReportedAsMissing() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        var lines = try auditTestLines(path)
        lines.remove(at: 1)
        try auditTestWriteLines(lines, to: path)

        let result = AuditLog.verify(path: path)
        let kind = try #require(result.problem?.kind)
        #expect(kind == .gap || kind == .chainBroken)
        #expect(result.problem?.record == 2)
        #expect(result.records == 1)
        #expect(result.problem?.description == "record 2 is missing (the record numbered 3 follows record 1)")
    }

    @Test func deletedLastLineIsReportedAsTruncated() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        var lines = try auditTestLines(path)
        lines.removeLast()
        try auditTestWriteLines(lines, to: path)

        let result = AuditLog.verify(path: path)
        #expect(result.problem?.kind == .truncated)
        #expect(result.problem?.record == 5)
        #expect(result.records == 4)
        #expect(
            result.problem?.description == "the log ends at record 4 but 5 were written: record 5 onward is missing")
    }

    @Test func lastLineCutMidwayIsMalformed() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.prefix(data.count - 40).write(to: URL(fileURLWithPath: path))

        let result = AuditLog.verify(path: path)
        #expect(result.problem?.kind == .malformed)
        #expect(result.problem?.record == 5)
        #expect(result.records == 4)
        // Lenient reading still shows the intact records.
        #expect(try AuditLog.read(path: path).count == 4)
    }

    @Test func swappedLinesAreDetected() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        var lines = try auditTestLines(path)
        lines.swapAt(2, 3)
        try auditTestWriteLines(lines, to: path)

        let result = AuditLog.verify(path: path)
        #expect(result.problem?.kind == .chainBroken)
        #expect(result.problem?.record == 3)
        #expect(result.records == 2)
    }

    @Test func secretsAreRedacted() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let log = try AuditLog(path: path)
        let entry = AuditEntry(
            changeover: "co-1", database: "orders", step: "provision", outcome: "started",
            message: "connecting with PASSWORD=hunter2",
            facts: [
                "password": "s3cr3t-a", "Replication_Token": "s3cr3t-b", "clientSecret": "s3cr3t-c",
                "dsn": "host=db1 password=s3cr3t-d", "note": "password= not set", "port": "5432",
            ])
        let record = try log.append(entry, actor: "tester", time: auditTestBaseTime)
        #expect(record.facts["password"] == "[redacted]")
        #expect(record.facts["Replication_Token"] == "[redacted]")
        #expect(record.facts["clientSecret"] == "[redacted]")
        #expect(record.facts["dsn"] == "[redacted]")
        #expect(record.facts["note"] == "password= not set")
        #expect(record.facts["port"] == "5432")
        #expect(record.message == "[redacted]")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(!text.contains("s3cr3t"))
        #expect(!text.contains("hunter2"))
        #expect(AuditLog.verify(path: path).isIntact)
    }

    @Test func concurrentAppendsFormOneChain() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("nested/dir/audit.jsonl")
        _ = try AuditLog(path: path)
        let workers = 8
        let perWorker = 25
        let errors = AuditTestCollector()
        let group = DispatchGroup()
        for worker in 0..<workers {
            group.enter()
            let thread = Thread {
                defer { group.leave() }
                do {
                    let log = try AuditLog(path: path)  // separate instance and descriptors per thread
                    for i in 0..<perWorker {
                        try log.append(auditTestEntry(worker * 100 + i), actor: "worker \(worker)", time: Date())
                    }
                } catch {
                    errors.add("\(error)")
                }
            }
            thread.start()
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        #expect(errors.all.isEmpty, "\(errors.all)")

        let result = AuditLog.verify(path: path)
        #expect(result.isIntact, "\(String(describing: result.problem))")
        #expect(result.records == workers * perWorker)
        let records = try AuditLog.read(path: path)
        #expect(records.map(\.seq) == Array(1...(workers * perWorker)))
        for worker in 0..<workers {
            #expect(records.filter { $0.actor == "worker \(worker)" }.count == perWorker)
        }
    }

    @Test func concurrentAppendsFromTasksShareOneInstance() async throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let log = try AuditLog(path: path)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for i in 0..<10 {
                        try log.append(auditTestEntry(i), actor: "task \(worker)", time: Date())
                    }
                }
            }
            try await group.waitForAll()
        }
        let result = AuditLog.verify(path: path)
        #expect(result.isIntact)
        #expect(result.records == 40)
    }

    @Test func reopeningContinuesTheChain() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let first = try auditTestWrite(3, to: path)
        let reopened = try AuditLog(path: path)
        let fourth = try reopened.append(auditTestEntry(4), actor: "again", time: auditTestBaseTime)
        let fifth = try reopened.append(auditTestEntry(5), actor: "again", time: auditTestBaseTime)
        #expect(fourth.seq == 4)
        #expect(fourth.prev == first[2].hash)
        #expect(fifth.prev == fourth.hash)
        let result = AuditLog.verify(path: path)
        #expect(result.isIntact)
        #expect(result.records == 5)
        #expect(result.lastHash == fifth.hash)
    }

    @Test func missingEmptyAndNewLogs() throws {
        let dir = try AuditTestDirectory()
        let missing = AuditLog.verify(path: dir.path("nope.jsonl"))
        #expect(missing.problem?.kind == .unreadable)
        #expect(missing.problem?.description == "no audit log at \(dir.path("nope.jsonl"))")
        #expect(missing.records == 0)
        #expect(throws: AuditError.self) { try AuditLog.read(path: dir.path("nope.jsonl")) }

        let emptyPath = dir.path("empty.jsonl")
        #expect(FileManager.default.createFile(atPath: emptyPath, contents: Data()))
        let empty = AuditLog.verify(path: emptyPath)
        #expect(empty.isIntact)
        #expect(empty.records == 0)
        #expect(empty.lastHash == nil)

        let freshPath = dir.path("sub/fresh.jsonl")
        _ = try AuditLog(path: freshPath)
        let fresh = AuditLog.verify(path: freshPath)
        #expect(fresh.isIntact)
        #expect(fresh.records == 0)
        #expect(try AuditLog.read(path: freshPath).isEmpty)
    }

    @Test func filePermissions() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("a/b/audit.jsonl")
        try auditTestWrite(1, to: path)
        #expect(try auditTestMode(dir.path("a")) == 0o700)
        #expect(try auditTestMode(dir.path("a/b")) == 0o700)
        #expect(try auditTestMode(path) == 0o600)
        #expect(try auditTestMode(path + ".head") == 0o600)
        #expect(!FileManager.default.fileExists(atPath: path + ".head.tmp"))
    }

    @Test func appendRefusesToExtendABrokenLog() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        try auditTestWrite(5, to: path)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let log = try AuditLog(path: path)

        // Cut mid-line.
        try original.prefix(original.count - 40).write(to: URL(fileURLWithPath: path))
        #expect(throws: AuditError.self) { try log.append(auditTestEntry(6), actor: "x", time: Date()) }

        // Last record altered (line still complete).
        var lines = String(decoding: original, as: UTF8.self).split(separator: "\n").map(String.init)
        lines[4] = lines[4].replacingOccurrences(of: "step 5 done", with: "step 5 dune")
        try auditTestWriteLines(lines, to: path)
        #expect(throws: AuditError.self) { try log.append(auditTestEntry(6), actor: "x", time: Date()) }

        // Last line garbage.
        lines[4] = "{not json"
        try auditTestWriteLines(lines, to: path)
        do {
            try log.append(auditTestEntry(6), actor: "x", time: Date())
            Issue.record("append extended a malformed log")
        } catch let error as AuditError {
            #expect(error.description == "cannot append to audit log \(path): its last record is malformed")
        }

        // Last line removed: the head shows the truncation, append must not paper over it.
        lines.removeLast()
        try auditTestWriteLines(lines, to: path)
        #expect(throws: AuditError.self) { try log.append(auditTestEntry(6), actor: "x", time: Date()) }
        #expect(AuditLog.verify(path: path).problem?.kind == .truncated)

        // Restored, it appends again.
        try original.write(to: URL(fileURLWithPath: path))
        #expect(try log.append(auditTestEntry(6), actor: "x", time: Date()).seq == 6)
        #expect(AuditLog.verify(path: path).records == 6)
    }

    @Test func headFileProblems() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let written = try auditTestWrite(5, to: path)
        let headPath = path + ".head"
        let head = try String(contentsOfFile: headPath, encoding: .utf8)
        #expect(head == #"{"hash":"\#(written[4].hash)","records":5}"# + "\n")

        // Same count, different hash.
        try #"{"hash":"\#(written[3].hash)","records":5}"#.write(toFile: headPath, atomically: false, encoding: .utf8)
        let mismatch = AuditLog.verify(path: path)
        #expect(mismatch.problem?.kind == .headMismatch)
        #expect(mismatch.problem?.record == 5)

        // Head missing with a non-empty log.
        try FileManager.default.removeItem(atPath: headPath)
        let missing = AuditLog.verify(path: path)
        #expect(missing.problem?.kind == .headMismatch)
        #expect(missing.records == 5)
        #expect(throws: AuditError.self) {
            try AuditLog(path: path).append(auditTestEntry(6), actor: "x", time: Date())
        }

        // Head one record behind (append interrupted before the head update): tolerated and repaired.
        try #"{"hash":"\#(written[3].hash)","records":4}"#.write(toFile: headPath, atomically: false, encoding: .utf8)
        #expect(AuditLog.verify(path: path).isIntact)
        let sixth = try AuditLog(path: path).append(auditTestEntry(6), actor: "x", time: Date())
        #expect(sixth.seq == 6 && sixth.prev == written[4].hash)
        let repaired = AuditLog.verify(path: path)
        #expect(repaired.isIntact && repaired.records == 6)

        // Head two records behind but naming record 4 truly: a two-record append interrupted
        // before its head update. Tolerated.
        try #"{"hash":"\#(written[3].hash)","records":4}"#.write(toFile: headPath, atomically: false, encoding: .utf8)
        #expect(AuditLog.verify(path: path).isIntact)

        // Head behind, naming a hash that is not that record's: not explained by a crash.
        try #"{"hash":"\#(written[2].hash)","records":4}"#.write(toFile: headPath, atomically: false, encoding: .utf8)
        #expect(AuditLog.verify(path: path).problem?.kind == .headMismatch)
        #expect(throws: AuditError.self) {
            try AuditLog(path: path).append(auditTestEntry(7), actor: "x", time: Date())
        }
    }

    @Test func batchAppendChainsEveryRecordWithOneHeadUpdate() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let log = try AuditLog(path: path)
        try log.append(auditTestEntry(1), actor: "x", time: Date())
        let batch = try log.append([auditTestEntry(2), auditTestEntry(3), auditTestEntry(4)], actor: "x", time: Date())
        #expect(batch.map(\.seq) == [2, 3, 4])
        #expect(batch[1].prev == batch[0].hash && batch[2].prev == batch[1].hash)
        let result = AuditLog.verify(path: path)
        #expect(result.isIntact && result.records == 4 && result.lastHash == batch[2].hash)
        #expect(try log.append([], actor: "x", time: Date()).isEmpty)
    }

    @Test func timeFormatting() throws {
        #expect(AuditTime.format(auditTestBaseTime) == "2026-11-29T04:30:00.123Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 951_782_400.999)) == "2000-02-29T00:00:00.999Z")
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for seconds in stride(from: 0.0, to: 4_102_444_800, by: 86_399_987.654) {
            let date = Date(timeIntervalSince1970: seconds)
            let text = AuditTime.format(date)
            #expect(text == reference.string(from: date))
            let parsed = try #require(AuditTime.parse(text))
            #expect(AuditTime.format(parsed) == text)
        }
        #expect(AuditTime.parse("2026-11-29T04:30:00Z") == Date(timeIntervalSince1970: 1_795_926_600))
        #expect(AuditTime.parse("2026-11-29 04:30:00Z") == nil)
        #expect(AuditTime.parse("2026-11-29T04:30:00.123+01:00") == nil)
    }

    @Test func returnedRecordMatchesWhatIsRead() throws {
        let dir = try AuditTestDirectory()
        let path = dir.path("audit.jsonl")
        let log = try AuditLog(path: path)
        let record = try log.append(
            AuditEntry(changeover: "co/7", database: "db \"quoted\"\nnewline", step: "switchover", outcome: "failed"),
            actor: "root@host pid 1", time: Date(timeIntervalSince1970: 1_795_926_600.123_456))
        #expect(record.message == nil)
        #expect(try AuditLog.read(path: path) == [record])
        #expect(try auditTestLines(path).count == 1)
        #expect(try auditTestLines(path)[0].contains(#""changeover":"co/7""#))
        #expect(AuditLog.verify(path: path).isIntact)
    }
}
