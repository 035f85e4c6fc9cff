import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// The other parsers of outside input, abused the way the config was: megabytes on one line,
/// deep nesting, numbers past every limit. Each answers with one line (or skips what it cannot
/// read) and never crashes or hangs.
@Suite struct HostileParserTests {
    static let megabytes10 = 10 << 20

    /// `piece` repeated `count` times, built by doubling: `String(repeating:count:)` appends
    /// piece by piece, which takes seconds for megabytes in a debug build.
    static func repeated(_ piece: String, _ count: Int) -> String {
        var text = piece
        var copies = 1
        while copies * 2 <= count {
            text += text
            copies *= 2
        }
        return copies == count ? text : text + repeated(piece, count - copies)
    }

    // MARK: - Error messages

    /// The regexes `ConfigError` used before: the hand-written scan must mask exactly what they did.
    static var regexes: [(Regex<AnyRegexOutput>, String)] {
        [
            (try! Regex(#"(?i)(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s"]*)"#), ""),
            (try! Regex(#"(://[^:/@\s"]*:)[^\s"]*@"#), "@"),
        ]
    }

    static func maskedByRegex(_ text: String) -> String {
        var text = text
        for (pattern, keep) in regexes {
            text = text.replacing(pattern) { match in
                String(text[match.range].prefix(match.output[1].substring?.count ?? 0)) + "********" + keep
            }
        }
        return text
    }

    @Test func passwordMaskingMatchesTheRegexes() {
        let pieces = [
            "password", "PassWord", "pass", "=", " = ", " ", "'", "\\", "\\'", "\"", "://", ":", "/", "@", "a",
            "s3cret",
            "postgres://u:p@h", "redis://", "\t", "é", "🦀", "e\u{301}", "ſ", "x=y",
        ]
        PropertyGenerator.forAll("config.masking", count: 1500) { random, seed in
            let text = random.string(from: pieces, count: random.int(0...14))
            #expect(
                ConfigError.maskingPasswords(in: text) == Self.maskedByRegex(text),
                "seed \(seed): \(text.debugDescription)")
        }
    }

    @Test func maskingAMegabyteOfURLsTakesOnePass() {
        // Quadratic in the regex engine: a megabyte of "://a:" ran for minutes, 256 kB for tens of seconds.
        let clock = ContinuousClock()
        for text in [
            Self.repeated("://a:", 50_000), Self.repeated("password=", 30_000),
            "://u:" + Self.repeated("x", 250_000) + "@h",
        ] {
            let started = clock.now
            let error = ConfigError("unknown engine \"\(text)\"")
            #expect(clock.now - started < .seconds(20))
            #expect(error.description.isOneLine && error.description.count <= ConfigError.maximumLength)
            #expect(!error.description.contains("xxxxxxxx"))
        }
    }

    // MARK: - Primary addresses

    @Test func hugeConninfosAreRefusedWithoutQuotingThem() throws {
        for text in [
            Self.repeated("x:/a:b@", 1_500_000), "host=" + Self.repeated("h", Self.megabytes10),
            Self.repeated("password=", 1_000_000),
        ] {
            let error = #expect(throws: ConfigError.self) { try DatabasePrimary.parse(text, engine: .postgres) }
            #expect(
                error?.description.hasPrefix("bad primary conninfo: connection info is ") == true,
                "\(error?.description ?? "")")
            #expect(error?.description.hasSuffix("bytes long; more than 65536 is not a conninfo") == true)
        }
        // Under the size limit, a conninfo with too many places a password could hide gets
        // libpq's verdict without libpq's quote of it.
        let error = #expect(throws: ConfigError.self) {
            try DatabasePrimary.parse(Self.repeated("x:/a:S3cr3t@", 5_000) + " '", engine: .postgres)
        }
        #expect(error?.description == "bad primary conninfo: could not parse connection info")
        let fine = try DatabasePrimary.parse("host=" + Self.repeated("h", 60_000), engine: .postgres)
        #expect(fine.host.count == 60_000)
    }

    @Test func hugeRedisAddressesAreOneLine() {
        for text in [
            "redis://" + Self.repeated("u", Self.megabytes10) + "@h", Self.repeated(":", Self.megabytes10),
            "h:" + Self.repeated("9", Self.megabytes10), Self.repeated("@", Self.megabytes10),
        ] {
            let error = #expect(throws: ConfigError.self) { try DatabasePrimary.parse(text, engine: .redis) }
            #expect(
                error?.description
                    == "bad Redis primary address of \(text.utf8.count) bytes (use host:port or redis://[user@]host:port)"
            )
        }
        // No part of an overlong address is quoted: it could be the start of a password.
        let secret = #expect(throws: ConfigError.self) {
            try DatabasePrimary.parse("redis://app:S3cr3t" + Self.repeated("x", 2_000) + "@h:1", engine: .redis)
        }
        #expect(secret?.description.contains("S3cr3t") == false)
    }

    // MARK: - Windows and freezes

    @Test func tenMegabyteWindowSpecsAreOneLine() {
        let specs = [
            Self.repeated("a", Self.megabytes10),
            "Sundays 22:00 " + Self.repeated("A/", Self.megabytes10 / 2),
            "Sundays 22:00 for " + Self.repeated("9", Self.megabytes10) + "m",
            Self.repeated("sun:22:00-", Self.megabytes10 / 10),
            "sun:22:00-sun:23:30 " + Self.repeated("x ", Self.megabytes10 / 2),
            "Sundays " + Self.repeated("9", Self.megabytes10) + ":00",
        ]
        for spec in specs {
            let error = #expect(throws: WindowError.self) { try MaintenanceWindow.parse(spec) }
            #expect(
                error?.description == "window spec of \(spec.utf8.count) bytes (a window is a few words; at most 1000)")
        }
        // At the limit the spec is parsed, and its error quotes it on one line.
        let long = "Sundays 22:00 " + Self.repeated("x", MaintenanceWindow.maximumSpecLength - 14)
        let error = #expect(throws: WindowError.self) { try MaintenanceWindow.parse(long) }
        #expect(error?.code == .unknownTimeZone && error?.description.isOneLine == true)
    }

    @Test func tenMegabyteFreezesAreOneLine() {
        let specs = [
            Self.repeated("9", Self.megabytes10) + "-01-01",
            "2026-12-20.." + Self.repeated(".", Self.megabytes10),
            "2026-12-20 " + Self.repeated("to ", Self.megabytes10 / 3),
            "99999999999999999999-01-01..2027-01-01",
        ]
        for spec in specs {
            let error = #expect(throws: WindowError.self) { try FreezePeriod.parse(spec) }
            #expect(error?.description.isOneLine == true)
            if spec.utf8.count > MaintenanceWindow.maximumSpecLength {
                #expect(
                    error?.description
                        == "freeze spec of \(spec.utf8.count) bytes (a freeze is a few words; at most 1000)")
            }
        }
    }

    // MARK: - The audit log

    static func temporaryLog() throws -> (directory: URL, path: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "audit-hostile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return (directory, directory.appendingPathComponent("audit.jsonl").path)
    }

    /// An audit line whose hash is right for `body` (a JSON object): it reaches the decoder.
    static func hashedLine(_ body: String) -> [UInt8] {
        let bytes = Array(body.utf8)
        let hash = AuditLineFormat.sha256Hex(bytes)
        return bytes.dropLast() + Array(",\"hash\":\"\(hash)\"}\n".utf8)
    }

    static func body(seq: String = "1", facts: String = "{}") -> String {
        #"{"actor":"a","changeover":"c","database":"d","facts":"# + facts + #","outcome":"o","prev":""#
            + AuditRecord.genesisHash + #"","seq":"# + seq
            + #","step":"s","time":"2026-11-29T04:23:27.912Z","version":1}"#
    }

    @Test func hostileAuditLinesAreMalformedRecords() throws {
        let (directory, path) = try Self.temporaryLog()
        defer { try? FileManager.default.removeItem(at: directory) }
        let deep = 100_000
        let lines: [(String, [UInt8])] = [
            ("a 10 MB line", Array(repeating: UInt8(ascii: "a"), count: Self.megabytes10) + [10]),
            (
                "deeply nested facts",
                Self.hashedLine(Self.body(facts: Self.repeated("[", deep) + Self.repeated("]", deep)))
            ),
            (
                "deeply nested objects",
                Self.hashedLine(
                    Self.body(facts: String(repeating: "{\"a\":", count: deep) + "1" + Self.repeated("}", deep)))
            ),
            ("unclosed nesting", Self.hashedLine(Self.body(facts: Self.repeated("[", deep)))),
            ("a 100,000-digit seq", Self.hashedLine(Self.body(seq: Self.repeated("9", 100_000)))),
            ("seq 1e999", Self.hashedLine(Self.body(seq: "1e999"))),
            ("seq 2^63", Self.hashedLine(Self.body(seq: "9223372036854775808"))),
        ]
        for (name, line) in lines {
            try Data(line).write(to: URL(fileURLWithPath: path))
            try? FileManager.default.removeItem(atPath: path + ".head")
            let verification = AuditLog.verify(path: path)
            #expect(
                verification.problem?.kind == .malformed, "\(name): \(verification.problem?.description ?? "intact")")
            #expect(verification.problem?.record == 1, "\(name)")
            #expect(
                verification.problem?.description.isOneLine == true && verification.problem!.description.count < 200,
                "\(name)")
            #expect(try AuditLog.read(path: path).isEmpty, "\(name)")
        }
        // A record that is merely big is a record.
        let big = Self.hashedLine(
            Self.body().replacingOccurrences(of: "\"o\"", with: "\"\(Self.repeated("o", 1 << 20))\""))
        try Data(big).write(to: URL(fileURLWithPath: path))
        #expect(try AuditLog.read(path: path).first?.outcome.count == 1 << 20)
        #expect(AuditLog.verify(path: path).records == 1)
    }

    @Test func aLastRecordNumberedIntMaxIsRefusedNotATrap() throws {
        let (directory, path) = try Self.temporaryLog()
        defer { try? FileManager.default.removeItem(at: directory) }
        let body = AuditRecordBody(
            version: 1, seq: Int.max, time: "2026-11-29T04:23:27.912Z", actor: "a", changeover: "c",
            database: "d", step: "s", outcome: "o", message: nil, facts: [:], prev: AuditRecord.genesisHash)
        let (line, hash) = try AuditLineFormat.encodeLine(body)
        try Data(line).write(to: URL(fileURLWithPath: path))
        try AuditFileIO.writeHead(AuditHead(records: Int.max, hash: hash), logPath: path)
        let log = try AuditLog(path: path)
        let error = #expect(throws: AuditError.self) {
            try log.append(
                AuditEntry(changeover: "c", database: "d", step: "s", outcome: "o"), actor: "a", time: Date())
        }
        #expect(
            error?.description.contains("its last record is numbered 9223372036854775807, the largest number there is")
                == true,
            "\(error?.description ?? "")")
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(line), "the log was changed")
        #expect(AuditLog.verify(path: path).problem?.kind == .gap)
    }
}
