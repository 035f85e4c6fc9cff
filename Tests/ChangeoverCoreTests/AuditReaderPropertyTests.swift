import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// Hostile audit logs: whatever happened to the bytes of the log or its head file, `verify`
/// names a problem in one line at a sensible record, and `read` shows what it can.
@Suite struct AuditReaderPropertyTests {
    struct Fixture {
        let directory: URL
        let path: String
        let log: [UInt8]
        let head: [UInt8]
        /// The heads a correct log may legitimately carry: (k, hash of record k) for k ≤ count.
        let acceptableHeads: [(records: Int, hash: String)]
    }

    static func makeFixture() throws -> Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "audit-property-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("audit.jsonl").path
        let log = try AuditLog(path: path)
        let steps = ["preflight", "provision", "catch-up", "fence", "promote"]
        var records: [AuditRecord] = []
        for (index, step) in steps.enumerated() {
            let time = Date(timeIntervalSince1970: 1_796_000_000 + Double(index) * 1.25)
            records.append(
                try log.append(
                    AuditEntry(
                        changeover: "orders-1", database: "orders", step: step,
                        outcome: index == 3 ? "failed" : "succeeded",
                        message: index == 3 ? "timed out \"quoted\" — ünïcode" : nil,
                        facts: ["ms": "\(index).5", "lsn": "0/30\(index)9050"]),
                    actor: "root@host pid 42", time: time))
        }
        let logBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let headBytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path + ".head")))
        let heads = [(0, AuditRecord.genesisHash)] + records.map { ($0.seq, $0.hash) }
        return Fixture(directory: directory, path: path, log: logBytes, head: headBytes, acceptableHeads: heads)
    }

    struct HeadFile: Decodable {
        var records: Int
        var hash: String
    }

    static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map(Array.init)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines
    }

    static func join(_ lines: [[UInt8]], trailingNewline: Bool) -> [UInt8] {
        var bytes = Array(lines.joined(separator: [10]))
        if trailingNewline && !lines.isEmpty { bytes.append(10) }
        return bytes
    }

    static func randomJSON(_ random: inout PropertyGenerator, depth: Int = 0) -> String {
        if depth > 3 || random.chance(0.4) {
            return random.pick([
                "1", "-1", "1e999", "null", "true", "\"x\"", "\"\(String(repeating: "0", count: 64))\"",
                "9223372036854775808", "\"2026-11-29T04:23:27.912Z\"", "{}", "[]",
            ])
        }
        if random.chance(0.5) {
            let keys = [
                "version", "seq", "time", "actor", "changeover", "database", "step", "outcome", "message", "facts",
                "prev", "hash", "records", "x",
            ]
            return "{"
                + (0..<random.int(0...8)).map { _ in "\"\(random.pick(keys))\":" + randomJSON(&random, depth: depth + 1)
                }.joined(separator: ",") + "}"
        }
        return "[" + (0..<random.int(0...4)).map { _ in randomJSON(&random, depth: depth + 1) }.joined(separator: ",")
            + "]"
    }

    /// One random corruption of `bytes`, seen as lines.
    static func corrupt(_ bytes: [UInt8], _ random: inout PropertyGenerator) -> [UInt8] {
        var bytes = bytes
        var lines = Self.lines(bytes)
        let i = lines.isEmpty ? 0 : random.int(0...lines.count - 1)
        let j = lines.isEmpty ? 0 : random.int(0...lines.count - 1)
        switch random.int(0...11) {
        case 0:  // flip bits in a few bytes
            for _ in 0..<random.int(1...3) where !bytes.isEmpty {
                bytes[random.int(0...bytes.count - 1)] ^= UInt8(random.int(1...255))
            }
            return bytes
        case 1:  // truncate anywhere
            return Array(bytes.prefix(random.int(0...bytes.count)))
        case 2:  // insert random bytes anywhere
            bytes.insert(contentsOf: random.bytes(random.int(1...20)), at: random.int(0...bytes.count))
            return bytes
        case 3:  // delete a range
            guard !bytes.isEmpty else { return [0] }
            let start = random.int(0...bytes.count - 1)
            bytes.removeSubrange(start..<min(bytes.count, start + random.int(1...50)))
            return bytes
        case 4: if !lines.isEmpty { lines.remove(at: i) }
        case 5: if !lines.isEmpty { lines.insert(lines[i], at: j) }
        case 6: if !lines.isEmpty { lines.swapAt(i, j) }
        case 7: lines.insert(Array(randomJSON(&random).utf8), at: random.int(0...lines.count))
        case 8:  // invalid UTF-8 inside a line
            if !lines.isEmpty {
                lines[i].insert(
                    contentsOf: [0xC3, 0x28, 0xFF, 0xFE, 0xED, 0xA0, 0x80].prefix(random.int(1...7)),
                    at: random.int(0...lines[i].count))
            }
        case 9:  // a huge line
            lines.insert(
                Array(
                    repeating: random.pick([UInt8(ascii: "a"), UInt8(ascii: "{"), UInt8(ascii: "[")]),
                    count: random.int(10_000...100_000)), at: random.int(0...lines.count))
        case 10:  // CRLF line ends
            return Array(bytes.map { $0 == 10 ? [13, 10] : [$0] }.joined())
        default:  // edit a value inside a record: change one digit or letter
            if !lines.isEmpty,
                let k = lines[i].indices.filter({
                    (48...57).contains(lines[i][$0]) || (97...122).contains(lines[i][$0])
                }).randomElement(using: &random)
            {
                lines[i][k] = lines[i][k] == 48 ? 49 : 48
            }
        }
        return join(lines, trailingNewline: random.chance(0.95))
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func theUntouchedLogVerifies() throws {
        let fixture = try Self.makeFixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        let verification = AuditLog.verify(path: fixture.path)
        #expect(verification.isIntact)
        #expect(verification.records == 5)
        #expect(try AuditLog.read(path: fixture.path).count == 5)
    }

    @Test func corruptedLogsAreCaughtAtASensibleRecord() throws {
        let fixture = try Self.makeFixture()
        defer { try? FileManager.default.removeItem(at: fixture.directory) }
        var changedLogs = 0
        try PropertyGenerator.forAll("audit.corrupt", count: 3000) { random, seed in
            var log = fixture.log
            var head = fixture.head
            let target = random.int(0...9)  // 0-6: the log, 7-8: the head, 9: both
            for _ in 0..<random.int(1...3) {
                if target <= 6 || target == 9 { log = Self.corrupt(log, &random) }
                if target >= 7 {
                    head = random.chance(0.3) ? Array(Self.randomJSON(&random).utf8) : Self.corrupt(head, &random)
                }
            }
            let removeHead = random.chance(0.03)
            try Self.write(log, to: fixture.path)
            try Self.write(head, to: fixture.path + ".head")
            if removeHead { try FileManager.default.removeItem(atPath: fixture.path + ".head") }

            let lineCount = Self.lines(log).count
            let verification = AuditLog.verify(path: fixture.path)
            if let problem = verification.problem {
                #expect(
                    (1...(lineCount + 1)).contains(problem.record),
                    "seed \(seed): record \(problem.record) of \(lineCount) lines: \(problem.description)")
                #expect(
                    !problem.description.isEmpty && problem.description.isOneLine,
                    "seed \(seed): \(problem.description.debugDescription)")
            }
            let headStillAcceptable: Bool = {
                if removeHead { return false }
                guard let parsed = try? JSONDecoder().decode(HeadFile.self, from: Data(head)) else { return false }
                return fixture.acceptableHeads.contains { $0.records == parsed.records && $0.hash == parsed.hash }
            }()
            if log != fixture.log {
                changedLogs += 1
                #expect(!verification.isIntact, "seed \(seed): a changed log verifies")
            } else if !headStillAcceptable {
                #expect(
                    !verification.isIntact,
                    "seed \(seed): a wrong head verifies: \(String(decoding: head, as: UTF8.self).debugDescription)")
            }

            do {
                let records = try AuditLog.read(path: fixture.path)
                #expect(
                    records.count <= max(lineCount, 0), "seed \(seed): \(records.count) records from \(lineCount) lines"
                )
            } catch {
                Issue.record("seed \(seed): read threw for an existing file: \(error)")
            }
        }
        #expect(changedLogs > 1800, "only \(changedLogs) cases changed the log")
    }
}
