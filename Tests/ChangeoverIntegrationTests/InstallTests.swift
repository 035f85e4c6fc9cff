import ChangeoverCore
import Foundation
import Testing

/// `make install` from a fresh clone, as an operator installs it: the binary lands in
/// PREFIX/bin, `--version` names the commit it was built from, `make uninstall` takes it away.
/// The clone builds on its own (a debug build from nothing: minutes), since the package this
/// test runs from is locked by `swift test` while it runs. That build takes 7 minutes on a
/// 2-core machine, a third of `make test`: the test runs when CHANGEOVER_INSTALL_TEST=1.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["CHANGEOVER_INSTALL_TEST"] == "1",
        "a debug build from a fresh clone (7 minutes); CHANGEOVER_INSTALL_TEST=1 runs it"))
struct InstallTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func run(_ argv: [String], timeout: Duration = .seconds(60)) async throws -> Subprocess.Outcome {
        let outcome = try await Subprocess.run(["/usr/bin/env"] + argv, timeout: timeout)
        #expect(
            outcome.succeeded, "\(argv.joined(separator: " ")): exit \(outcome.status): \(outcome.stderr.suffix(1500))")
        return outcome
    }

    @Test(.timeLimit(.minutes(30)))
    func makeInstallFromAFreshCloneStampsTheCommitOfHEAD() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("install-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let clone = "\(directory)/clone"
        let prefix = "\(directory)/prefix"
        _ = try await Self.run(["git", "clone", "--quiet", Self.root, clone])
        let head = try await Self.run(["git", "-C", clone, "rev-parse", "HEAD"]).stdout.trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(head.count == 40)

        _ = try await Self.run(
            ["make", "-C", clone, "install", "PREFIX=\(prefix)", "CONFIGURATION=debug"], timeout: .seconds(25 * 60))
        let installed = "\(prefix)/bin/changeover"
        #expect(FileManager.default.isExecutableFile(atPath: installed))
        let version = try await Self.run([installed, "--version"])
        let expected = try BuildStampExpectation.version
        #expect(version.stdout == "changeover \(expected) (commit \(head))\n", "\(version.stdout)")
        // The stamp lives only for the build: the clone is as it was.
        let status = try await Self.run(["git", "-C", clone, "status", "--porcelain", "--ignored", "Sources"])
        #expect(status.stdout.isEmpty, "\(status.stdout)")

        _ = try await Self.run(["make", "-C", clone, "uninstall", "PREFIX=\(prefix)"])
        #expect(!FileManager.default.fileExists(atPath: installed))
    }
}

/// The version `BuildStamp` (in the CLI library, which the tests do not link) declares.
enum BuildStampExpectation {
    static var version: String {
        get throws {
            let source = try String(
                contentsOfFile: "\(InstallTests.root)/Sources/ChangeoverCLI/BuildStamp.swift", encoding: .utf8)
            let line = try #require(source.split(separator: "\n").first { $0.contains("static let version = ") })
            return String(line.split(separator: "\"")[1])
        }
    }
}
