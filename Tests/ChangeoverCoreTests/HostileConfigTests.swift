import Foundation
import Testing

@testable import ChangeoverCore

/// Config text built to crash the YAML parser — nesting that overflows Yams's recursion,
/// aliases that expand without bound, files too big to read, bytes that are not text — gets a
/// one-line `ConfigError` naming the problem and its line, before Yams sees it.
@Suite struct HostileConfigTests {
    /// The error `FleetConfig.parse` gives for `text`, or nil if it parses.
    static func error(_ text: String) -> String? {
        do {
            _ = try FleetConfig.parse(text, source: "fleet.yaml", relativeTo: "/etc/changeover")
            return nil
        } catch {
            #expect(error.description.isOneLine && error.description.count <= ConfigError.maximumLength)
            return error.description
        }
    }

    static func expectNestingError(_ text: String, line: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        let error = Self.error(text)
        #expect(
            error?.hasPrefix("malformed config fleet.yaml: line \(line), column ") == true, "\(error ?? "parsed")",
            sourceLocation: sourceLocation)
        #expect(
            error?.hasSuffix("nested more than 64 levels deep; a config needs a handful") == true,
            "\(error ?? "parsed")",
            sourceLocation: sourceLocation)
    }

    /// A valid config with `extra` appended as the value of the database's `router.command`
    /// (a place where any text is just a string).
    static func config(command: String) -> String {
        """
        provisioner: {root: /n}
        images: {pg15: {binDirectory: /b}}
        databases:
          orders:
            image: pg15
            primary: "host=h"
            router:
              kind: hook
              command: \(command)
        """
    }

    // MARK: - Nesting

    @Test func hundredThousandOpenBrackets() {
        Self.expectNestingError(String(repeating: "[", count: 100_000), line: 1)
        Self.expectNestingError(
            String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000), line: 1)
        let error = Self.error(String(repeating: "[", count: 100_000))
        #expect(
            error
                == "malformed config fleet.yaml: line 1, column 65: nested more than 64 levels deep; a config needs a handful"
        )
    }

    @Test func hundredThousandNestedFlowMappings() {
        Self.expectNestingError(
            String(repeating: "{a: ", count: 100_000) + String(repeating: "}", count: 100_000), line: 1)
        Self.expectNestingError("databases:\n  orders: " + String(repeating: "{a: [", count: 50_000), line: 2)
    }

    @Test func hundredThousandCompactBlockSequences() {
        Self.expectNestingError(String(repeating: "- ", count: 100_000) + "x\n", line: 1)
        Self.expectNestingError(String(repeating: "? ", count: 100_000) + "x\n", line: 1)
        Self.expectNestingError("a:\n" + String(repeating: "  - ", count: 30_000) + "x\n", line: 2)
    }

    @Test func blockSequencesNestedLineByLine() {
        let lines = (0..<1_400).map { String(repeating: " ", count: $0) + "-" }
        Self.expectNestingError(lines.joined(separator: "\n"), line: 65)
    }

    @Test func deeplyIndentedMappings() {
        let lines = (0..<1_400).map { String(repeating: " ", count: $0) + "k:" }
        Self.expectNestingError(lines.joined(separator: "\n") + " v\n", line: 65)
        // A mapping in a sequence in a mapping…, each level two columns in.
        let mixed = (0..<200).map { String(repeating: "  ", count: $0) + ($0 % 2 == 0 ? "k:" : "- ") }.joined(
            separator: "\n")
        Self.expectNestingError(mixed, line: 65)
    }

    @Test func indentlessSequencesCountAsLevels() {
        // `k:` then `- ` at the same column: libyaml opens no indentation level for the
        // sequence, but Yams's tree, and its recursion, gets one.
        func document(entries: Int) -> String {
            (["k:"] + (0..<entries).map { String(repeating: "  ", count: $0) + "- k:" }).joined(separator: "\n")
                + " x\n"
        }
        #expect(YAMLPrescan.nesting(in: document(entries: 10)).deepest == 21)
        Self.expectNestingError(document(entries: 40), line: 33)
    }

    @Test func pairsInFlowSequencesAndCollectionKeysCountTheirLevel() {
        // `[k: v]` is a list holding a one-pair mapping; `[x]: v` a mapping whose key is a list.
        #expect(YAMLPrescan.nesting(in: "[k: v]").deepest == 2)
        #expect(YAMLPrescan.nesting(in: "[? k]").deepest == 2)
        #expect(YAMLPrescan.nesting(in: "[[[x]]: v]").deepest == 4)
        #expect(YAMLPrescan.nesting(in: "[[x]]: v").deepest == 3)
        #expect(YAMLPrescan.nesting(in: "{[x]: v}").deepest == 2)
        Self.expectNestingError(String(repeating: "[k: ", count: 40) + String(repeating: "]", count: 40), line: 1)
        Self.expectNestingError(String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + ": v", line: 1)
    }

    @Test func nestingUpToTheLimitIsParsed() {
        // router.command is a key of the fourth mapping down; 60 lists in its value make 64 levels.
        let at64 = Self.config(command: String(repeating: "[", count: 60) + String(repeating: "]", count: 60))
        #expect(YAMLPrescan.nesting(in: at64).deepest == 64)
        // From the decoder.
        #expect(Self.error(at64)?.contains("wrong type at databases.orders.router.command") == true)
        let at65 = Self.config(command: String(repeating: "[", count: 61) + String(repeating: "]", count: 61))
        Self.expectNestingError(at65, line: 9)
    }

    @Test func bracketsStarsAndDashesInsideTextAreText() throws {
        let deep = String(repeating: "[{", count: 5_000)
        let texts = [
            "\"\(deep) *alias - - -\"",
            "'\(deep) *alias '' - - -'",
            "echo \(deep) *.tmp - - - ? ?",
            "rm *.tmp  # \(deep) *x",
            "|\n        \(deep)\n        *.tmp\n        - - - - x\n\n        ? ? [",
            ">-\n        - - - \(deep)\n         *x",
            "echo a\n        *.tmp - - \(deep)",  // a plain scalar that goes on over two lines
            "\"line one\n        \(deep) *b\"",
        ]
        for command in texts {
            let config = try FleetConfig.parse(Self.config(command: command))
            #expect(
                try config.database("orders").router.command?.contains("[{[{") == true || command.hasPrefix("rm "),
                "\(command.prefix(40))")
        }
    }

    // MARK: - Aliases

    @Test func billionLaughsIsRejectedAtTheFirstAlias() {
        var lines = ["provisioner: {root: /n}", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for n in 1...9 {
            lines.append("a\(n): &a\(n) [" + Array(repeating: "*a\(n - 1)", count: 10).joined(separator: ", ") + "]")
        }
        lines.append("freezes: *a9")
        #expect(
            Self.error(lines.joined(separator: "\n"))
                == "malformed config fleet.yaml: line 3, column 10: alias *a0: YAML aliases are not accepted in a config; write the value out"
        )
    }

    @Test func mergeKeyLaughsIsRejected() {
        // Yams's decoder flattens merge keys eagerly: 10^9 pairs from ten lines, before this fix.
        var lines = ["a0: &a0 {" + (0..<10).map { "k\($0): lol" }.joined(separator: ", ") + "}"]
        for n in 1...9 {
            lines.append(
                "a\(n): &a\(n) {<<: [" + Array(repeating: "*a\(n - 1)", count: 10).joined(separator: ", ") + "]}")
        }
        lines.append("provisioner: {<<: *a9, root: /n}")
        #expect(
            Self.error(lines.joined(separator: "\n"))?.contains(
                "line 2, column 15: alias *a0: YAML aliases are not accepted") == true)
    }

    @Test func everyAliasIsRejectedWhereverItStands() {
        for (text, line) in [
            ("a: *x", 1), ("- *x", 1), ("[*x]", 1), ("{a: *x}", 1), ("x: 1\n*x : 2", 2), ("? *x", 1),
            ("a: !!str *x", 1),
        ] {
            let error = Self.error(text)
            #expect(
                error?.hasPrefix("malformed config fleet.yaml: line \(line), column ") == true,
                "\(text): \(error ?? "parsed")")
            #expect(error?.contains("alias *x: YAML aliases are not accepted") == true, "\(text): \(error ?? "parsed")")
        }
    }

    @Test func anchorsWithoutAliasesAreHarmless() throws {
        let text = Self.config(command: "&cmd /usr/local/bin/repoint").replacingOccurrences(
            of: "provisioner: {", with: "provisioner: &p {")
        #expect(try FleetConfig.parse(text).database("orders").router.command == "/usr/local/bin/repoint")
    }

    // MARK: - Size and bytes

    @Test func overlongTextIsRejectedBeforeParsing() {
        let text = "# " + String(repeating: "x", count: FleetConfig.maximumFileSize)
        #expect(
            Self.error(text)
                == "config fleet.yaml is larger than 16 MiB; a fleet config takes a few hundred bytes per database")
    }

    @Test func overlongFilesAreRejectedWithoutReadingThemWhole() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("huge-\(UUID().uuidString).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(count: 2 * FleetConfig.maximumFileSize).write(to: URL(fileURLWithPath: path))
        let huge = #expect(throws: ConfigError.self) { try FleetConfig.load(path: path) }
        #expect(
            huge?.description
                == "config file \(path) is larger than 16 MiB; a fleet config takes a few hundred bytes per database")
        // An endless "file": only the first 16 MiB and a byte are read.
        let zero = #expect(throws: ConfigError.self) { try FleetConfig.load(path: "/dev/zero") }
        #expect(
            zero?.description
                == "config file /dev/zero is larger than 16 MiB; a fleet config takes a few hundred bytes per database")
        let directory = #expect(throws: ConfigError.self) {
            try FleetConfig.load(path: FileManager.default.temporaryDirectory.path)
        }
        #expect(directory?.description.hasPrefix("cannot read config file ") == true)
    }

    @Test func nulAndControlCharactersNameTheirPlace() {
        #expect(
            Self.error("provisioner: {root: /n}\nimages: {}\0\n")
                == "malformed config fleet.yaml: line 2, column 11: a NUL byte; a config is text")
        #expect(
            Self.error("provisioner:\r\n  root: /n\u{1B}[31m\n")
                == "malformed config fleet.yaml: line 2, column 11: control character U+001B is not allowed")
        #expect(
            Self.error("a: \"\u{FFFF}\"")
                == "malformed config fleet.yaml: line 1, column 5: control character U+FFFF is not allowed")
    }

    @Test func nonUTF8FilesNameTheFirstBadByte() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("latin1-\(UUID().uuidString).yaml")
            .path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let bytes =
            Array("provisioner: {root: /n}\nimages: {pg15: {binDirectory: /b/é".utf8) + [0xFF, 0xFE]
            + Array("}}\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: ConfigError.self) { try FleetConfig.load(path: path) }
        #expect(error?.description == "config file \(path) is not UTF-8 text (line 2, column 35)")
    }

    @Test func aDocumentThatIsNotAMappingSaysWhatItIs() {
        let tail = ", not a mapping of settings (provisioner:, images:, databases:, …)"
        #expect(Self.error("just words") == "malformed config fleet.yaml: the document is a single value" + tail)
        #expect(
            Self.error("- provisioner\n- databases\n") == "malformed config fleet.yaml: the document is a list" + tail)
        #expect(Self.error("[a, b]") == "malformed config fleet.yaml: the document is a list" + tail)
        #expect(Self.error("") == "malformed config fleet.yaml: the document is empty" + tail)
        #expect(Self.error("# only a comment\n\n") == "malformed config fleet.yaml: the document is empty" + tail)
        #expect(Self.error("~") == "malformed config fleet.yaml: the document is a single value" + tail)
    }
}
