import ChangeoverLab
import Foundation
import Testing
import Yams

@testable import ChangeoverCore

/// Hostile config files: whatever the bytes, `FleetConfig.parse` returns a config or throws a
/// `ConfigError` that is one short line and never repeats a password it was shown.
@Suite struct ConfigPropertyTests {
    static let secret = "Sup3rS3cretPW"

    static let valid = """
        stateDirectory: /var/lib/changeover
        auditLog: audit/audit.jsonl
        provisioner:
          kind: local
          root: /var/lib/changeover/nodes
          runAs: postgres
        freezes: ["2026-12-20..2027-01-03 Europe/Berlin", {first: "2027-04-01", reason: quarter}]
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
          pg15-patched:
            binDirectory: /opt/pg15-patched/bin
            environment: {LD_LIBRARY_PATH: /opt/glibc/lib}
        databases:
          orders:
            engine: postgres
            image: pg15
            primary: "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
            password: {env: ORDERS_PASSWORD}
            replication:
              user: replicator
              password: {file: /etc/changeover/replicator.pw}
            follower: {port: 5433}
            router: {kind: hook, command: /usr/local/bin/repoint, timeout: 10s}
            catchUp: {maxLagBytes: 16MB, maxLagTime: 1s, holdFor: 2s, timeout: 30m, pollEvery: 200ms}
            switchover: {fenceTimeout: 60s, replayTimeout: 10s, promoteTimeout: 30s, verifyTimeout: 10s, connectTimeout: 5s}
            retireAfter: 24h
            windows: ["Sundays 22:00 Europe/Berlin", "sun:22:00-mon:01:30 America/New_York", {day: saturday, start: "23:00", duration: 90m}]
          billing:
            engine: redis
            image: pg15
            primary: redis://app@10.0.0.7:6379
            router:
              kind: pgbouncer
              admin: "host=127.0.0.1 port=6432 user=pgbouncer dbname=pgbouncer"
              include: /etc/pgbouncer/databases.ini
          cache:
            image: pg15-patched
            primary: "postgres://app@10.0.0.5:5433/orders"
            router: {kind: haproxy, socket: /run/haproxy/admin.sock, backend: pg, server: primary}

        """

    /// The valid config with a password where none belongs: in a conninfo, a URL and a Redis URL.
    static let withSecrets =
        valid
        .replacingOccurrences(of: "dbname=postgres\"", with: "dbname=postgres password=\(secret)\"")
        .replacingOccurrences(of: "redis://app@", with: "redis://app:\(secret)@")
        .replacingOccurrences(of: "postgres://app@", with: "postgres://app:\(secret)@")

    /// Parses `text` and checks the property; returns whether it parsed.
    @discardableResult
    static func check(_ text: String, seed: UInt64) -> Bool {
        do {
            _ = try FleetConfig.parse(text, source: "fleet.yaml", relativeTo: "/etc/changeover")
            return true
        } catch {
            let d = error.description
            #expect(!d.isEmpty, "seed \(seed): empty error")
            // One line per problem (a mutation can misspell several keys), each short.
            let lines = d.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count <= ConfigError.maximumProblems + 1, "seed \(seed): \(lines.count) lines")
            for line in lines {
                #expect(
                    !line.isEmpty && String(line).isOneLine,
                    "seed \(seed): error is not one line a problem: \(d.debugDescription)")
                #expect(
                    line.count <= 300,
                    "seed \(seed): an error line is \(line.count) characters: \(line.prefix(400).debugDescription)")
            }
            #expect(!d.contains(secret), "seed \(seed): error shows the password: \(d.debugDescription)")
            return false
        }
    }

    @Test func theBaseConfigsBehave() throws {
        _ = try FleetConfig.parse(Self.valid)
        #expect(!Self.check(Self.withSecrets, seed: 0))
    }

    @Test func randomBytesAndNoiseAreRejectedInOneLine() {
        PropertyGenerator.forAll("config.noise", count: 1500) { random, seed in
            let text = random.chance(0.5) ? random.lossyText(random.int(0...400)) : random.noise(maxLength: 400)
            Self.check(text, seed: seed)
        }
    }

    @Test func generatedYAMLStructuresNeverCrash() {
        PropertyGenerator.forAll("config.grammar", count: 1500) { random, seed in
            var text: String
            if random.chance(0.5) {
                // A document shaped like a config, with random values in its places.
                text = Self.configShaped(&random)
            } else {
                text = Self.node(&random, depth: 0, indent: 0)
            }
            if random.chance(0.1) { text = text.replacingOccurrences(of: "\n", with: "\r\n") }
            Self.check(text, seed: seed)
        }
    }

    @Test func mutationsOfAValidConfigNeverCrash() {
        PropertyGenerator.forAll("config.mutation", count: 2000) { random, seed in
            let base = random.chance(0.5) ? Self.valid : Self.withSecrets
            var lines = base.components(separatedBy: "\n")
            for _ in 0..<random.int(1...4) {
                if random.chance(0.5) {
                    lines = random.mutateLines(lines)
                } else {
                    lines = Self.replaceScalar(in: lines, &random)
                }
            }
            Self.check(lines.joined(separator: "\n"), seed: seed)
        }
    }

    @Test func everyTruncationOfAValidConfigIsACleanAnswer() {
        for base in [Self.valid, Self.withSecrets] {
            let characters = Array(base)
            for cut in 0...characters.count {
                Self.check(String(characters[..<cut]), seed: UInt64(cut))
            }
        }
    }

    @Test func deepNestingIsRejectedWithoutOverflowingTheStack() {
        // Yams builds its node tree recursively: about 5,000 nested collections overflowed a
        // test thread's stack inside Yams. The pass before it now refuses anything over 64.
        for depth in [10, 100, 1_000, 100_000] {
            Self.check(String(repeating: "[", count: depth) + String(repeating: "]", count: depth), seed: UInt64(depth))
            Self.check(String(repeating: "[", count: depth), seed: UInt64(depth))
            Self.check(
                String(repeating: "{a: ", count: depth) + String(repeating: "}", count: depth), seed: UInt64(depth))
            Self.check(String(repeating: "- ", count: depth) + "x", seed: UInt64(depth))
            // Indented one column a line: 1,400 lines is as deep as fits in the size limit.
            let indented = (0..<min(depth, 1_400)).map { String(repeating: " ", count: $0) + "k:" }.joined(
                separator: "\n")
            Self.check(
                "databases:\n" + indented.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"),
                seed: UInt64(depth))
        }
    }

    // MARK: - Deep nesting and aliases

    /// Documents nested up to 300 levels in every form YAML has — flow sequences and mappings,
    /// block sequences (compact or not), mappings, indentless sequences, complex keys — with
    /// anchors, tags, aliases, brackets and stars inside quoted, plain and block scalars and
    /// comments, NEL/LS/CRLF line breaks, and random damage. Each parse is a config or one line;
    /// and the pass before Yams is never fooled: the tree Yams builds from a document is exactly
    /// as deep as the pass counted (never deeper, which would let a crash through; never
    /// shallower, which would refuse a config for depth it does not have).
    @Test func deepAndAliasedDocumentsAreCountedAsDeepAsYamsBuildsThem() {
        var (built, deep, aliased) = (0, 0, 0)
        PropertyGenerator.forAll("config.deep", count: 1200) { random, seed in
            let levels = random.chance(0.9) ? random.int(0...80) : random.int(80...300)
            let aliases = random.chance(0.3)
            var text = Self.deepNode(&random, levels: levels, indent: 0, inFlow: false, aliases: aliases)
            if random.chance(0.15) {
                var characters = Array(text)
                let at = random.int(0...characters.count)
                if random.chance(0.5), at < characters.count {
                    characters.remove(at: at)
                } else {
                    characters.insert(
                        random.pick([
                            "[", "]", "{", "}", "-", " ", "\n", ":", "\"", "'", "#", "|", "*", "&", "?", "\t", ",",
                        ]), at: at)
                }
                text = String(characters)
            }
            if random.chance(0.1) {
                text = text.replacingOccurrences(of: "\n", with: random.pick(["\r\n", "\u{85}", "\u{2028}", "\r"]))
            }
            Self.check(text, seed: seed)
            let counted = YAMLPrescan.nesting(in: text)
            if counted.deepest > FleetConfig.maximumNesting { deep += 1 }
            // Below an alias Yams puts the anchored node: the tree is deeper than the text.
            // Aliases are refused before parsing; their documents say nothing here.
            guard counted.aliases == 0 else {
                aliased += 1
                return
            }
            guard let node = try? Yams.compose(yaml: text) else { return }
            built += 1
            let depth = Self.depth(of: node)
            #expect(
                depth == counted.deepest,
                "seed \(seed): Yams built \(depth) levels, the pass counted \(counted.deepest): \(text.prefix(300).debugDescription)"
            )
        }
        // Enough of each kind for the property to mean something.
        #expect(built > 500 && deep > 100 && aliased > 100, "built \(built), too deep \(deep), aliased \(aliased)")
    }

    /// The depth of a Yams tree, without recursion: a scalar is 0, a collection one more than
    /// its deepest child.
    static func depth(of root: Node) -> Int {
        var deepest = 0
        var stack: [(Node, Int)] = [(root, 0)]
        while let (node, level) = stack.popLast() {
            switch node {
            case .scalar:
                deepest = max(deepest, level)
            case .mapping(let mapping):
                deepest = max(deepest, level + 1)
                for (key, value) in mapping { stack += [(key, level + 1), (value, level + 1)] }
            case .sequence(let sequence):
                deepest = max(deepest, level + 1)
                for item in sequence { stack.append((item, level + 1)) }
            }
        }
        return deepest
    }

    /// A node `levels` collections deep whose block lines start at column `indent`. A block
    /// collection begins with a line break; anything else is written where it stands.
    static func deepNode(_ random: inout PropertyGenerator, levels: Int, indent: Int, inFlow: Bool, aliases: Bool)
        -> String
    {
        if levels == 0 { return deepScalar(&random, indent: indent, inFlow: inFlow, aliases: aliases) }
        let pad = String(repeating: " ", count: indent)
        let property =
            random.chance(0.1) ? random.pick(["&a ", "!t ", "&b !t ", "&x "] + (aliases ? ["*a "] : [])) : ""
        if inFlow || random.chance(0.4) {
            let child = deepNode(&random, levels: levels - 1, indent: indent + 1, inFlow: true, aliases: aliases)
            switch random.int(0...4) {
            case 0: return property + "[" + child + "]"
            case 1: return property + "{k: " + child + "}"
            case 2: return property + "[a, " + child + ", 'b]']"
            case 3: return property + "[\n" + pad + " " + child + "\n" + pad + "]"
            default: return property + "{\"k\": " + child + ", ? q : r}"
            }
        }
        let step = random.pick([1, 2, 2, 4])
        switch random.int(0...4) {
        case 0, 1:
            let child = deepNode(&random, levels: levels - 1, indent: indent + 2, inFlow: false, aliases: aliases)
            return "\n" + pad + "- " + inline(child, at: indent + 2, &random)
        case 2:
            let child = deepNode(&random, levels: levels - 1, indent: indent + step, inFlow: false, aliases: aliases)
            let key = random.pick(["k", "\"q k\"", "'s'", "a b", "&k key", "[x]"])
            return "\n" + pad + key + ":" + (child.hasPrefix("\n") ? "" : " ") + child
        case 3 where levels >= 2:
            // An indentless sequence: the mapping's value, its dashes at the key's column.
            let child = deepNode(&random, levels: levels - 2, indent: indent + 2, inFlow: false, aliases: aliases)
            return "\n" + pad + "k:\n" + pad + "- " + inline(child, at: indent + 2, &random)
        default:
            let child = deepNode(&random, levels: levels - 1, indent: indent + 2, inFlow: false, aliases: aliases)
            return "\n" + pad + "? " + inline(child, at: indent + 2, &random) + "\n" + pad + ": v"
        }
    }

    /// A block child after `- ` or `? `: mostly on the same line (its first line's padding is
    /// the column it already stands at), sometimes on the next.
    static func inline(_ child: String, at column: Int, _ random: inout PropertyGenerator) -> String {
        let prefix = "\n" + String(repeating: " ", count: column)
        guard child.hasPrefix(prefix), random.chance(0.7) else { return child }
        return String(child.dropFirst(prefix.count))
    }

    static func deepScalar(_ random: inout PropertyGenerator, indent: Int, inFlow: Bool, aliases: Bool) -> String {
        let pad = String(repeating: " ", count: indent + 1)
        var options = [
            "x", "\"[[{ *a - ? \\\" ]\"", "'[{'' *b'", "~", "\"multi\n\(pad)line [\"", "&a x", "!t x", "'a # [['",
            "x # [[[ *z", "\"\"", "-1", "a-b", "[]", "{}",
        ]
        if aliases { options += ["*a", "*a", "*b"] }
        if !inFlow {
            options += [
                "|\n\(pad)[[[ *x\n\n\(pad)- - -", ">-\n\(pad) {{{ ? :\n", "plain [ text *c - d",
                "plain\n\(pad)*cont [[[ - -",
                "|2-\n\(pad)  [[[\n", "# [[[ *c\n\(pad)x",
            ]
        }
        return random.pick(options)
    }

    // MARK: - Redis primary addresses

    @Test func redisAddressesNeverCrashAndRejectInOneLine() {
        let hosts = ["10.0.0.7", "cache.internal", "[::1]", "::1", "", " ", "h", "🦀", "a@b", "a:b"]
        let ports = ["6379", "0", "65535", "65536", "-1", "", "99999999999999999999", "6379/", "6379/0", "+1", "٣"]
        PropertyGenerator.forAll("config.redis", count: 5000) { random, seed in
            var text: String
            switch random.int(0...2) {
            case 0: text = random.noise(maxLength: 40)
            default:
                let user = random.pick([
                    "", "app", "app:\(Self.secret)", ":\(Self.secret)", "a@b", random.noise(maxLength: 6),
                ])
                text =
                    (random.chance(0.6) ? random.pick(["redis://", "REDIS://", "rediss://", "redis:/"]) : "")
                    + (user.isEmpty && random.chance(0.5) ? "" : user + "@")
                    + random.pick(hosts) + (random.chance(0.9) ? ":" : "") + random.pick(ports)
                    + (random.chance(0.2) ? random.pick(["/", "//", "/0", "?x=1", " ", "\n"]) : "")
            }
            do throws(ConfigError) {
                let primary = try DatabasePrimary.parse(text, engine: .redis)
                guard case .redis(_, let port, let user) = primary else {
                    Issue.record("seed \(seed): not a Redis address")
                    return
                }
                #expect((1...65535).contains(port), "seed \(seed): port \(port)")
                #expect(user?.contains(":") != true, "seed \(seed): a password passed as user")
                #expect(!primary.address.contains(Self.secret), "seed \(seed): \(primary.address)")
            } catch {
                let d = error.description
                #expect(!d.isEmpty && d.isOneLine, "seed \(seed): \(d.debugDescription)")
                #expect(!d.contains(Self.secret), "seed \(seed): error shows the password: \(d.debugDescription)")
            }
        }
    }

    // MARK: - Generators

    static let scalars: [String] = [
        "0", "-0", "1", "-1", "5432", "65536", "99999999999999999999999999", "-9223372036854775809",
        "9223372036854775807", "1e400", "-1e400", "1e300", ".inf", "-.inf", ".nan", "0x1F", "0o17", "0b101",
        "1_000", "3.14", "true", "false", "yes", "no", "on", "off", "~", "null", "''", "\"\"",
        "2026-12-20", "2026-12-20T04:23:27Z", "12:30:00", "\"quoted \\\" \\u00e9 \\x41\"", "'single '' quote'",
        "|\n  block\n  text", ">-\n  folded\n  text", "!!str 5", "!!int x", "!!binary aGVsbG8=", "!custom x",
        "&anchor value", "*anchor", "*missing", "\"\\t\\n\"", "\t", "🦀", "İstanbul", "\u{FEFF}x",
        "1e300s", "1e20ms", "9223372036854775807GB", "9223372036854775807", "99999999999999999999h",
        "-5s", "nans", "infs", "0x10s", "16MB", "1GiB", "-1MB", "8EB", "10s", "500ms", "2m", "1h",
        "Sundays 22:00", "sun:22:00-sun:23:30 Mars/Olympus", "2026-12-20..2027-01-03",
        "postgres://u:\(secret)@h/db", "host=h password=\(secret)", "redis://u:\(secret)@h:1",
    ]

    static let keys: [String] = [
        "stateDirectory", "auditLog", "provisioner", "images", "databases", "freezes", "kind", "root",
        "runAs", "binDirectory", "environment", "engine", "image", "primary", "password", "replication",
        "user", "follower", "port", "router", "command", "timeout", "admin", "database", "include", "socket",
        "backend", "server", "catchUp", "maxLagBytes", "maxLagTime", "holdFor", "pollEvery",
        "provisionTimeout", "switchover", "fenceTimeout", "retireAfter", "windows", "env", "file", "day",
        "start", "duration", "zone", "first", "last", "reason", "<<", "? complex", "\"quoted key\"", "🦀",
        "orders", "pg15",
    ]

    static func scalar(_ random: inout PropertyGenerator) -> String {
        switch random.int(0...5) {
        case 0: return "\"" + random.noise(maxLength: 30).replacingOccurrences(of: "\"", with: "\\\"") + "\""
        case 1: return String(random.int(Int.min...Int.max))
        case 2: return String(repeating: random.pick(["9", "a", "1"]), count: random.int(1...5000))
        default: return random.pick(scalars)
        }
    }

    /// A random YAML node: mappings, sequences (block and flow), scalars, anchors and aliases,
    /// duplicate keys, tabs.
    static func node(_ random: inout PropertyGenerator, depth: Int, indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        if depth > 6 || random.chance(0.3) { return scalar(&random) }
        switch random.int(0...3) {
        case 0:
            let count = random.int(0...5)
            let items = (0..<count).map { _ in node(&random, depth: depth + 1, indent: 0) }
            return "["
                + items.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(
                    separator: random.pick([", ", ",", " , "])) + "]"
        case 1:
            let count = random.int(0...5)
            let items = (0..<count).map { _ in
                random.pick(keys) + ": " + scalar(&random).replacingOccurrences(of: "\n", with: " ")
            }
            return "{" + items.joined(separator: ", ") + "}"
        case 2:
            let count = random.int(1...5)
            return "\n"
                + (0..<count).map { _ in
                    pad + "- " + node(&random, depth: depth + 1, indent: indent + 2)
                }.joined(separator: "\n")
        default:
            let count = random.int(1...6)
            var keys = (0..<count).map { _ in random.pick(Self.keys) }
            if random.chance(0.2), let first = keys.first { keys.append(first) }  // duplicate key
            return "\n"
                + keys.map { key in
                    let anchor = random.chance(0.1) ? " &a" : ""
                    let sep = random.chance(0.05) ? ":\t" : ": "
                    return pad + key + sep + anchor + node(&random, depth: depth + 1, indent: indent + 2)
                }.joined(separator: "\n")
        }
    }

    /// A document with the config's top-level keys and random values under them.
    static func configShaped(_ random: inout PropertyGenerator) -> String {
        var text = "provisioner: {root: /n}\nimages: {pg15: {binDirectory: /b}}\n"
        text += "databases:\n  orders:\n    image: pg15\n    primary: \"host=h\"\n"
        for _ in 0..<random.int(1...4) {
            let key = random.pick(keys)
            text += "    \(key): " + node(&random, depth: 2, indent: 6) + "\n"
        }
        if random.chance(0.5) {
            text += random.pick(keys) + ": " + node(&random, depth: 1, indent: 2) + "\n"
        }
        return text
    }

    /// Replaces the value of one `key: value` line (or one flow-map entry) with a random scalar.
    static func replaceScalar(in lines: [String], _ random: inout PropertyGenerator) -> [String] {
        var lines = lines
        let candidates = lines.indices.filter { lines[$0].contains(": ") }
        guard !candidates.isEmpty else { return lines }
        let index = random.pick(candidates)
        let line = lines[index]
        let separators = line.ranges(of: ": ")
        let chosen = random.pick(separators)
        let rest = line[chosen.upperBound...]
        let valueEnd = rest.firstIndex(where: { $0 == "," || $0 == "}" || $0 == "]" }) ?? rest.endIndex
        let value = scalar(&random).replacingOccurrences(of: "\n", with: random.chance(0.5) ? " " : "\n")
        lines[index] = String(line[..<chosen.upperBound]) + value + String(rest[valueEnd...])
        return lines
    }
}
