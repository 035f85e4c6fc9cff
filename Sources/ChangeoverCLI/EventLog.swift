import ChangeoverCore
import Foundation
import Logging
import Synchronization

/// A changeover's events as JSON log lines (`run --log-format json`), each with the changeover,
/// the database and the step it happened in.
final class EventLog: Sendable {
    private struct Context {
        var changeover: String?
        var database: String?
        var step: String?
    }
    private let context = Mutex(Context())
    private let output: @Sendable (String) -> Void

    init(output: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.output = output
    }

    func write(_ event: ChangeoverEvent) {
        var level = Logger.Level.info
        var message: String
        var metadata: [String: String] = [:]
        switch event {
        case .started(let id, let database, let from, let to):
            context.withLock { $0 = Context(changeover: id, database: database) }
            message = "changeover started"
            metadata = ["image.from": from, "image.to": to]
        case .stepStarted(let step):
            context.withLock { $0.step = step.rawValue }
            message = "step started"
        case .checks(let checks):
            if !checks.allSatisfy(\.passed) { level = .warning }
            message = "preflight checks"
            for (index, check) in checks.enumerated() {
                metadata["check.\(index + 1)"] = "\(check.passed ? "ok" : "FAIL") \(check.name): \(check.detail)"
            }
        case .progress(let text):
            message = text
        case .retry(let note):
            level = .warning
            message = "retrying"
            metadata = ["retry": "\(note)"]
        case .stepFinished(let step, let milliseconds, let error):
            message = error == nil ? "step done" : "step failed"
            metadata = ["step.ms": String(format: "%.1f", milliseconds), "step.name": step.rawValue]
            if let error {
                level = .error
                metadata["error"] = error
            }
        case .stopped(let step, let reason):
            level = .warning
            message = "stopped"
            metadata = ["step.name": step.rawValue, "reason": reason]
        case .notified(let event, let failure):
            message = failure == nil ? "notified" : "notification not delivered"
            metadata = ["notify.event": event.rawValue]
            if let failure {
                level = .warning
                metadata["error"] = failure
            }
        }
        let now = context.withLock { $0 }
        output(
            JSONLogHandler.Line(
                level: level, changeover: now.changeover, database: now.database, step: now.step,
                message: message, metadata: JSONLogHandler.redacted(metadata)
            ).encoded)
    }
}
