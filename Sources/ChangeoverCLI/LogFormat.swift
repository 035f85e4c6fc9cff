import ArgumentParser
import ChangeoverCore
import Logging

/// `--log-format`: lines for people (swift-log's stream handler) or one JSON object a line.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json

    /// Makes every logger of the process write in this format to stderr at `level` and above.
    func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            LoggingSystem.bootstrap { _ in
                var handler = JSONLogHandler()
                handler.logLevel = level
                return handler
            }
        }
    }
}
