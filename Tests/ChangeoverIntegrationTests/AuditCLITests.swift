import ChangeoverCore
import Foundation
import Testing

/// `changeover audit verify` finds an edited byte, a removed line and a cut tail, and names the
/// first bad record, with exit status 6.
@Suite struct AuditCLITests {
    enum Tampering: String, CaseIterable, CustomTestStringConvertible {
        case byteChanged, lineRemoved, tailCut, partialLastLine
        var testDescription: String { rawValue }
    }

    static func makeLog() throws -> (directory: String, path: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        let path = "\(directory)/audit.jsonl"
        let log = try AuditLog(path: path)
        for (index, step) in ["preflight", "provision", "catch-up", "fence", "promote", "settle"].enumerated() {
            try log.append(
                AuditEntry(
                    changeover: "orders-1", database: "orders", step: step, outcome: "succeeded",
                    message: "step \(index + 1)", facts: ["ms": "\(index * 10)"]),
                actor: "test", time: Date())
        }
        return (directory, path)
    }

    @Test func intactLogVerifiesAndShows() async throws {
        let (directory, path) = try Self.makeLog()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let verify = try await CLI.run(["audit", "verify", "--log", path])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("6 records, chain intact"))
        let show = try await CLI.run(["audit", "show", "--log", path])
        #expect(show.status == 0)
        #expect(show.stdout.split(separator: "\n").count == 6)
        #expect(show.stdout.contains("fence succeeded: step 4"))
    }

    @Test(arguments: Tampering.allCases)
    func tamperedLogFailsNamingTheFirstBadRecord(_ tampering: Tampering) async throws {
        let (directory, path) = try Self.makeLog()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false
        ).map(String.init)
        lines.removeLast()  // the empty string after the final newline
        let expected: String
        switch tampering {
        case .byteChanged:
            lines[2] = lines[2].replacingOccurrences(of: "step 3", with: "step 9")
            expected = "record 3"
        case .lineRemoved:
            lines.remove(at: 3)
            expected = "record 4"
        case .tailCut:
            lines.removeLast(2)
            expected = "record 5"
        case .partialLastLine:
            lines[5] = String(lines[5].prefix(40))
            expected = "record 6"
        }
        var text = lines.joined(separator: "\n")
        if tampering != .partialLastLine { text += "\n" }
        try text.write(toFile: path, atomically: false, encoding: .utf8)

        let result = try await CLI.run(["audit", "verify", "--log", path])
        #expect(result.status == 6, "\(tampering): exit \(result.status)")
        #expect(result.stderrLines.count == 1)
        #expect(result.stderr.contains("does not verify"))
        #expect(result.stderr.contains(expected), "\(tampering): \(result.stderr)")
    }
}
