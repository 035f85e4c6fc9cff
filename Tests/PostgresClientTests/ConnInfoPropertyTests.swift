import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Hostile conninfo strings and URLs: libpq's parser never crashes us, a rejection is a one-line
/// `.badConninfo` error that never repeats the password, and what parses renders back to itself.
@Suite struct ConnInfoPropertyTests {
    static let secret = "Sup3rS3cretPW"

    static let keys = [
        "host", "hostaddr", "port", "dbname", "user", "password", "passfile", "connect_timeout",
        "sslmode", "application_name", "options", "target_session_attrs", "keepalives", "service",
        "tcp_user_timeout", "channel_binding", "bogus", "", "HOST", "pass word", "🦀",
    ]
    static let values = [
        "127.0.0.1", "::1", "db.internal", "a,b,c", "5432", "5432,5433", "0", "99999999999", "-1", "postgres",
        "disable", "require", "read-write", "/tmp/sock", "''", "'a b'", "'it\\'s'", "'\\\\'", "a\\ b", "x=y",
        "'unterminated", "\\", "é", "🦀", "-c statement_timeout=5", "\t", "", "%41", "a'b",
    ]

    /// A password the way a user might write one: plain, with spaces, quotes or URL escapes.
    static func password(_ random: inout PropertyGenerator) -> String {
        secret + random.pick(["", "", " x", "'q", "\\", "@", ":", "/", "%", "%zz", "%00", "?", "&", "=", "#"])
    }

    static func keyValueForm(_ random: inout PropertyGenerator) -> (String, String?) {
        var pairs: [String] = []
        var given: String?
        for _ in 0..<random.int(0...6) {
            let key = random.pick(keys)
            var value = random.chance(0.7) ? random.pick(values) : random.noise(maxLength: 10)
            if random.chance(0.3) {
                value =
                    "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
                    + "'"
            }
            pairs.append(key + random.pick(["=", " = ", "=", "==", " =", ""]) + value)
        }
        if random.chance(0.6) {
            let pw = password(&random)
            given = pw
            let quoted =
                "'" + pw.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
            pairs.insert("password=" + (random.chance(0.5) ? quoted : pw), at: random.int(0...pairs.count))
        }
        return (pairs.joined(separator: random.pick([" ", "  ", "\t", "\n", " "])), given)
    }

    static func urlForm(_ random: inout PropertyGenerator) -> (String, String?) {
        var given: String?
        var text = random.pick([
            "postgres://", "postgresql://", "POSTGRES://", "postgres:/", "postgresql://", "postgres://",
        ])
        if random.chance(0.7) {
            text += random.pick(["app", "", "a%40b", "us er", "%zz", "🦀"])
            if random.chance(0.7) {
                let pw = password(&random)
                given = pw
                let encoded =
                    random.chance(0.5) ? pw : (pw.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? pw)
                text += ":" + encoded
            }
            text += "@"
        }
        let hosts = [
            "db1", "10.0.0.5", "[::1]", "[fe80::1%25eth0]", "[::1", "::1]", "[]", "", "%2Ftmp%2Fsock", "h-ö", "a.b.c",
        ]
        let hostCount = random.int(0...3)
        text += (0..<hostCount).map { _ in
            random.pick(hosts)
                + (random.chance(0.5) ? ":" + random.pick(["5432", "0", "65536", "", "x", "99999999999"]) : "")
        }.joined(separator: ",")
        if random.chance(0.7) { text += "/" + random.pick(["orders", "", "a%2Fb", "%", "db?x", "🦀"]) }
        if random.chance(0.6) {
            var params = (0..<random.int(1...4)).map { _ in
                random.pick(keys) + random.pick(["=", "", "=="]) + random.pick(values).addingPercentEncoding(
                    withAllowedCharacters: .urlQueryAllowed)!
            }
            if given == nil, random.chance(0.4) {
                let pw = password(&random)
                given = pw
                params.append(
                    "password="
                        + (random.chance(0.5) ? pw : pw.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!))
            }
            text += "?" + params.joined(separator: random.pick(["&", "&&", ";"]))
        }
        if random.chance(0.1) { text += random.pick(["#frag", " ", "\n", "%", "?"]) }
        return (text, given)
    }

    @Test func hostileConninfoNeverCrashesOrShowsThePassword() throws {
        var parsed = 0
        PropertyGenerator.forAll("conninfo", count: 8000) { random, seed in
            let (text, given): (String, String?)
            switch random.int(0...4) {
            case 0, 1: (text, given) = Self.keyValueForm(&random)
            case 2, 3: (text, given) = Self.urlForm(&random)
            default:
                let noise = random.chance(0.5) ? random.noise(maxLength: 60) : random.lossyText(random.int(0...60))
                (text, given) = (noise.replacingOccurrences(of: "\0", with: ""), nil)
            }
            do throws(PostgresError) {
                let info = try ConnInfo(text)
                parsed += 1
                if let password = info["password"], !password.isEmpty,
                    info.parameters.allSatisfy({ $0.key == "password" || !$0.value.contains(password) })
                {
                    #expect(
                        !info.description.contains(password),
                        "seed \(seed): description shows the password: \(info.description.debugDescription)")
                }
                // Unless the generator slid the secret into another parameter's value, it must not show.
                if info.parameters.allSatisfy({ $0.key == "password" || !$0.value.contains(Self.secret) }) {
                    #expect(
                        !info.description.contains(Self.secret),
                        "seed \(seed): description shows the password: \(info.description.debugDescription)")
                }
                // What parsed renders to a string that parses back to the same parameters.
                do {
                    let again = try ConnInfo(info.connectionString)
                    let sorted = { (c: ConnInfo) in c.parameters.map { "\($0.key)=\($0.value)" }.sorted() }
                    #expect(
                        sorted(again) == sorted(info),
                        "seed \(seed): \(text.debugDescription) → \(info.connectionString.debugDescription)")
                } catch {
                    Issue.record("seed \(seed): \(text.debugDescription) rendered as something libpq rejects: \(error)")
                }
            } catch {
                #expect(error.code == .badConninfo, "seed \(seed): code \(error.code)")
                #expect(
                    !error.message.isEmpty && error.message.isOneLine, "seed \(seed): \(error.message.debugDescription)"
                )
                #expect(error.description.isOneLine, "seed \(seed)")
                #expect(
                    !error.description.contains(Self.secret),
                    "seed \(seed): \(text.debugDescription) → error shows the password: \(error.description.debugDescription)"
                )
                if let given, given.count > 3 {
                    #expect(!error.description.contains(given), "seed \(seed): error shows the password")
                }
            }
        }
        #expect(parsed > 1000, "only \(parsed) of the generated strings parsed")
    }
}
