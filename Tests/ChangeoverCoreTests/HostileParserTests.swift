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
}
