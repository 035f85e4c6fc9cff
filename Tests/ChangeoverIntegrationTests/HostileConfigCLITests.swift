import Foundation
import Testing

/// The real executable, given a config built to crash its YAML parser: exit status 2, one line
/// on stderr naming the problem and where it is, and nothing written. Before the pass in front
/// of Yams, the nesting cases killed the process with SIGSEGV and the merge-key aliases grew
/// its memory without bound.
@Suite struct HostileConfigCLITests {
    enum Attack: String, CaseIterable, CustomTestStringConvertible {
        case hundredThousandBrackets, hundredThousandBraces, hundredThousandDashes, hundredThousandComplexKeys,
            indentedMappings, mergeKeyLaughs, seventeenMegabytes, nulByte, notUTF8, aList
        var testDescription: String { rawValue }

        var bytes: [UInt8] {
            switch self {
            case .hundredThousandBrackets: Array(String(repeating: "[", count: 100_000).utf8)
            case .hundredThousandBraces:
                Array((String(repeating: "{a: ", count: 100_000) + String(repeating: "}", count: 100_000)).utf8)
            case .hundredThousandDashes: Array((String(repeating: "- ", count: 100_000) + "x\n").utf8)
            case .hundredThousandComplexKeys: Array((String(repeating: "? ", count: 100_000) + "x\n").utf8)
            case .indentedMappings: Array((0..<1_400).map { String(repeating: " ", count: $0) + "k:\n" }.joined().utf8)
            case .mergeKeyLaughs:
                Self.mergeKeyLaughs()
            case .seventeenMegabytes:
                Array(("provisioner: {root: /n}\n# " + String(repeating: "x", count: 17 << 20) + "\n").utf8)
            case .nulByte: Array("provisioner: {root: /n}\n\0\n".utf8)
            case .notUTF8: Array("provisioner: {root: /n".utf8) + [0xC3, 0x28] + Array("}\n".utf8)
            case .aList: Array("- provisioner: {root: /n}\n".utf8)
            }
        }

        /// Ten anchors, each merging ten of the previous one (split up: as one expression it
        /// exceeds the type checker's time limit on a loaded machine).
        static func mergeKeyLaughs() -> [UInt8] {
            let first: String =
                "a0: &a0 {" + (0..<10).map { (k: Int) -> String in "k\(k): lol" }.joined(separator: ", ") + "}"
            let others: [String] = (1...9).map { (n: Int) -> String in
                let aliases: String = Array(repeating: "*a\(n - 1)", count: 10).joined(separator: ", ")
                return "a\(n): &a\(n) {<<: [" + aliases + "]}"
            }
            let lines: [String] = [first] + others + ["provisioner: {<<: *a9, root: /n}"]
            return Array(lines.joined(separator: "\n").utf8)
        }

        func expected(_ path: String) -> String {
            switch self {
            case .hundredThousandBrackets:
                "malformed config \(path): line 1, column 65: nested more than 64 levels deep"
            case .hundredThousandBraces: "malformed config \(path): line 1, column 257: nested more than 64 levels deep"
            case .hundredThousandDashes: "malformed config \(path): line 1, column 129: nested more than 64 levels deep"
            case .hundredThousandComplexKeys:
                "malformed config \(path): line 1, column 129: nested more than 64 levels deep"
            case .indentedMappings: "malformed config \(path): line 65, column 65: nested more than 64 levels deep"
            case .mergeKeyLaughs:
                "malformed config \(path): line 2, column 15: alias *a0: YAML aliases are not accepted in a config"
            case .seventeenMegabytes: "config file \(path) is larger than 16 MiB"
            case .nulByte: "malformed config \(path): line 2, column 1: a NUL byte"
            case .notUTF8: "config file \(path) is not UTF-8 text (line 1, column 23)"
            case .aList: "malformed config \(path): the document is a list, not a mapping of settings"
            }
        }
    }

    @Test(arguments: Attack.allCases)
    func hostileConfigGetsOneLineAndTouchesNothing(_ attack: Attack) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "hostile-config-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/fleet.yaml"
        try Data(attack.bytes).write(to: URL(fileURLWithPath: path))

        let result = try await CLI.run(
            ["run", "--config", path, "--database", "orders", "--image", "pg15-patched", "--now"],
            timeout: .seconds(120))
        #expect(result.status == 2, "\(attack): exit \(result.status), stderr: \(result.stderr.prefix(300))")
        #expect(
            result.stderrLines.count == 1,
            "\(attack): stderr was \(result.stderrLines.count) lines: \(result.stderr.prefix(300))")
        #expect(result.stderr.hasPrefix("changeover: error: "))
        #expect(result.stderr.contains(attack.expected(path)), "\(attack): stderr: \(result.stderr.prefix(300))")
        #expect(result.stdout.isEmpty)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory) == ["fleet.yaml"],
            "\(attack): something was written")
    }

    /// A config with misspelt keys in three sections: exit 2, and one line for each, in the
    /// order of the file, each naming its line and the key meant.
    @Test func everyMisspeltKeyIsALineOfItsOwnAndTheExitIsBadInput() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "misspelt-config-\(UUID().uuidString)"
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/fleet.yaml"
        try """
        stateDirectory: \(directory)/state
        provisioner: {kind: local, root: \(directory)/nodes, runas: postgres}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=5432"
            catchup: {maxLagBytes: 1MB}
            windwos: ["sun:22:00-sun:23:30"]
        """.write(toFile: path, atomically: true, encoding: .utf8)

        let result = try await CLI.run(
            ["run", "--config", path, "--database", "orders", "--image", "pg15", "--now"],
            timeout: .seconds(120))
        #expect(result.status == 2, "exit \(result.status), stderr: \(result.stderr.prefix(500))")
        #expect(
            result.stderrLines.map(String.init) == [
                "changeover: error: config \(path) line 2: runas: unknown key; did you mean runAs?",
                "changeover: error: config \(path) line 9: catchup: unknown key; did you mean catchUp?",
                "changeover: error: config \(path) line 10: windwos: unknown key; did you mean windows?",
            ], "\(result.stderr.prefix(500))")
        #expect(result.stdout.isEmpty)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory) == ["fleet.yaml"], "something was written")

        // A stanza given to db add goes through the same checks.
        let stanza = "\(directory)/billing.yaml"
        try "image: pg15\nprimary: \"host=10.0.0.7\"\ncatchup: {maxLagBytes: 1MB}\nlables: {tier: production}\n"
            .write(toFile: stanza, atomically: true, encoding: .utf8)
        try
            "stateDirectory: \(directory)/state\nprovisioner: {root: \(directory)/nodes}\nimages: {pg15: {binDirectory: /usr/lib/postgresql/15/bin}}\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let add = try await CLI.run(
            ["db", "add", "billing", "--config", path, "--file", stanza], timeout: .seconds(120))
        #expect(add.status == 2, "exit \(add.status), stderr: \(add.stderr.prefix(500))")
        #expect(
            add.stderrLines.map(String.init) == [
                "changeover: error: inventory database billing, line 3: catchup: unknown key; did you mean catchUp?",
                "changeover: error: inventory database billing, line 4: lables: unknown key; did you mean labels?",
            ], "\(add.stderr.prefix(500))")
    }
}
