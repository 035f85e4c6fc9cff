import ArgumentParser
import Foundation

extension AsyncParsableCommand {
    /// As swift-argument-parser's own, except that a usage error (an unknown option, a missing
    /// argument, a failed validation) exits 2 like every other kind of bad input, not 64.
    package static func mainExitingTwoOnBadUsage() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(Failure.Kind.badInput.rawValue)
            }
            exit(withError: error)
        }
    }
}
