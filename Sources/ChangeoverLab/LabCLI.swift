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

    /// Beside the running test bundle, or in the package's debug build directory.
    public static var executable: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [beside, beside.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("changeover").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/changeover").path
    }

    public static func run(_ arguments: [String], environment: [String: String] = [:],
                           timeout: Duration = .seconds(300)) async throws -> Result {
        let outcome = try await Subprocess.run([executable] + arguments, environment: environment, timeout: timeout)
        return Result(status: outcome.status, stdout: outcome.stdout, stderr: outcome.stderr)
    }
}
