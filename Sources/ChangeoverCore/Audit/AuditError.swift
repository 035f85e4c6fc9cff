import Foundation

/// The one error type thrown by the audit log. Its description is a single line
/// suitable for printing to an operator, e.g.
/// "cannot append to audit log /x/audit.jsonl: its last record is malformed".
public struct AuditError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }

    /// An error for a failed system call, including the errno text.
    static func system(_ what: String, path: String, errno code: Int32) -> AuditError {
        AuditError("\(what) \(path): \(String(cString: strerror(code))) (errno \(code))")
    }
}
