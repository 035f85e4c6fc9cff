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
}
