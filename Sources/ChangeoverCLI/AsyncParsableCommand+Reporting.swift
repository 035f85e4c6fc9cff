import ArgumentParser
import ChangeoverCore
import Foundation

extension AsyncParsableCommand {
    /// Runs `body`, turning errors into one line on stderr and a meaningful exit code.
    package func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as Failure {
            Output.error(failure.message)
            throw ExitCode(failure.kind.rawValue)
        } catch let error as ExitCode {
            throw error
        } catch {
            let kind = FailureCode.of(error)
            // A config error may be several problems, one line each; anything else is one line.
            Output.error(
                error is ConfigError
                    ? String(describing: error)
                    : String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " "))
            throw ExitCode(kind.rawValue)
        }
    }
}
