@testable import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

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
            text = text.replacing(pattern) { match in String(text[match.range].prefix(match.output[1].substring?.count ?? 0)) + "********" + keep }
        }
        return text
    }

    @Test func passwordMaskingMatchesTheRegexes() {
        let pieces = ["password", "PassWord", "pass", "=", " = ", " ", "'", "\\", "\\'", "\"", "://", ":", "/", "@", "a", "s3cret",
                      "postgres://u:p@h", "redis://", "\t", "é", "🦀", "e\u{301}", "ſ", "x=y"]
        PropertyGenerator.forAll("config.masking", count: 1500) { random, seed in
            let text = random.string(from: pieces, count: random.int(0...14))
            #expect(ConfigError.maskingPasswords(in: text) == Self.maskedByRegex(text), "seed \(seed): \(text.debugDescription)")
        }
    }

    @Test func maskingAMegabyteOfURLsTakesOnePass() {
        // Quadratic in the regex engine: a megabyte of "://a:" ran for minutes, 256 kB for tens of seconds.
        let clock = ContinuousClock()
        for text in [Self.repeated("://a:", 50_000), Self.repeated("password=", 30_000),
                     "://u:" + Self.repeated("x", 250_000) + "@h"] {
            let started = clock.now
            let error = ConfigError("unknown engine \"\(text)\"")
            #expect(clock.now - started < .seconds(20))
            #expect(error.description.isOneLine && error.description.count <= ConfigError.maximumLength)
            #expect(!error.description.contains("xxxxxxxx"))
        }
    }

    // MARK: - Primary addresses

    @Test func hugeConninfosAreRefusedWithoutQuotingThem() throws {
        for text in [Self.repeated("x:/a:b@", 1_500_000), "host=" + Self.repeated("h", Self.megabytes10),
                     Self.repeated("password=", 1_000_000)] {
            let error = #expect(throws: ConfigError.self) { try DatabasePrimary.parse(text, engine: .postgres) }
            #expect(error?.description.hasPrefix("bad primary conninfo: connection info is ") == true, "\(error?.description ?? "")")
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
        for text in ["redis://" + Self.repeated("u", Self.megabytes10) + "@h", Self.repeated(":", Self.megabytes10),
                     "h:" + Self.repeated("9", Self.megabytes10), Self.repeated("@", Self.megabytes10)] {
            let error = #expect(throws: ConfigError.self) { try DatabasePrimary.parse(text, engine: .redis) }
            #expect(error?.description == "bad Redis primary address of \(text.utf8.count) bytes (use host:port or redis://[user@]host:port)")
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
            #expect(error?.description == "window spec of \(spec.utf8.count) bytes (a window is a few words; at most 1000)")
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
                #expect(error?.description == "freeze spec of \(spec.utf8.count) bytes (a freeze is a few words; at most 1000)")
            }
        }
    }
}
