import Foundation

/// Writes a change of state the way the audit log's rule asks: its audit record first, made
/// durable, and only then the store write (or the act) it authorises.
///
/// A reader of the store therefore never sees a change the audit log does not already hold,
/// and a controller killed between the two writes leaves an audit record of a change that was
/// not made (which `status` and the store show was not), never a change without a record.
/// When the audit record cannot be written, nothing is written to the store.
public struct Journal: Sendable {
    public let auditLog: String
    public let actor: String

    public init(auditLog: String, actor: String) {
        self.auditLog = auditLog
        self.actor = actor
    }

    /// Appends `entries` (one write, one sync), then performs `write` and returns what it returns.
    @discardableResult
    public func record<T>(_ entries: [AuditEntry], at time: Date = Date(), then write: () throws -> T) throws -> T {
        try AuditLog(path: auditLog).append(entries, actor: actor, time: time)
        return try write()
    }

    /// The same for one record.
    @discardableResult
    public func record<T>(_ entry: AuditEntry, at time: Date = Date(), then write: () throws -> T) throws -> T {
        try record([entry], at: time, then: write)
    }

    /// A record that authorises nothing further: the outcome of an act already audited.
    public func record(_ entries: [AuditEntry], at time: Date = Date()) throws {
        try AuditLog(path: auditLog).append(entries, actor: actor, time: time)
    }

    /// The log, opened once for a writer that appends many times (a changeover's journal).
    func open() throws -> AuditLog {
        try AuditLog(path: auditLog)
    }
}
