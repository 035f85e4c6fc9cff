import Foundation

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

/// Deliberately simple secret scrubbing for audit entries.
enum AuditRedaction {
    static let placeholder = "[redacted]"
    static let secretKeyWords = ["password", "secret", "token"]

    /// Keys that hold one of those words and no secret: a lease's fencing token is a counter
    /// the store hands out in order, there to be compared.
    static let publicKeys: Set<String> = ["lease.token"]

    /// A fact key naming a secret (case-insensitive "password", "secret", "token"), except `publicKeys`.
    static func isSecretKey(_ key: String) -> Bool {
        if publicKeys.contains(key) { return false }
        let lower = key.lowercased()
        return secretKeyWords.contains { lower.contains($0) }
    }

    /// Replaces the whole value if it contains "password=" followed by a non-space.
    static func redactValue(_ value: String) -> String {
        containsInlinePassword(value) ? placeholder : value
    }

    static func containsInlinePassword(_ value: String) -> Bool {
        let lower = value.lowercased()
        var searchStart = lower.startIndex
        while let range = lower.range(of: "password=", range: searchStart..<lower.endIndex) {
            if range.upperBound < lower.endIndex, !lower[range.upperBound].isWhitespace {
                return true
            }
            searchStart = range.upperBound
        }
        return false
    }
}
