import ChangeoverCore
import Foundation

/// Runs the built `changeover` executable, as an operator would (for the test suites).
public enum LabCLI {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    /// `changeover`, beside the running test bundle or in the package's debug build directory.
    public static var executable: String { built("changeover") }

    /// `changeover-testing`: the command tree as `changeover`, built for the tests that kill the
    /// controller at a step boundary (CHANGEOVER_FAULT); the installed product is not it.
    public static var testingExecutable: String { built("changeover-testing") }

    /// The built program `name`: beside the running test bundle, or in the package's debug
    /// build directory.
    static func built(_ name: String) -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [beside, beside.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/\(name)").path
    }

    /// Runs `changeover`, or `changeover-testing` when `environment` sets CHANGEOVER_FAULT.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:],
        timeout: Duration = .seconds(300)
    ) async throws -> Result {
        let program = environment["CHANGEOVER_FAULT"] == nil ? executable : testingExecutable
        let outcome = try await Subprocess.run([program] + arguments, environment: environment, timeout: timeout)
        return Result(status: outcome.status, stdout: outcome.stdout, stderr: outcome.stderr)
    }
}
