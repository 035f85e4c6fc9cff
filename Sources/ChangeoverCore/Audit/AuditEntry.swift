import Foundation
import Redaction

/// What callers pass to `AuditLog.append`. Anything that looks like a secret is
/// replaced by "[redacted]" when the entry is created, so it never reaches the log.
public struct AuditEntry: Sendable, Equatable {
    public private(set) var changeover: String
    public private(set) var database: String
    public private(set) var step: String
    public private(set) var outcome: String
    public private(set) var message: String?
    public private(set) var facts: [String: String]

    public init(
        changeover: String,
        database: String,
        step: String,
        outcome: String,
        message: String? = nil,
        facts: [String: String] = [:]
    ) {
        self.changeover = changeover
        self.database = database
        self.step = step
        self.outcome = outcome
        self.message = message.map(AuditRedaction.redactValue)
        var cleaned: [String: String] = [:]
        for (key, value) in facts {
            cleaned[key] =
                AuditRedaction.isSecretKey(key) ? AuditRedaction.placeholder : AuditRedaction.redactValue(value)
        }
        self.facts = cleaned
    }
}

/// The audit log's scrubbing: a value that holds a password is dropped whole, and so is every
/// value of a key that names a secret (``Redaction``'s rules).
enum AuditRedaction {
    static let placeholder = Redaction.placeholder

    static func isSecretKey(_ key: String) -> Bool { Redaction.isSecretKey(key) }

    /// Replaces the whole value if it contains "password=" followed by a non-space.
    static func redactValue(_ value: String) -> String {
        Redaction.containsInlinePassword(value) ? placeholder : value
    }
}
