import Foundation

/// The old primaries' last act, after their grace period.
extension ChangeoverRunner {
    /// Retires the old primaries of finished changeovers whose grace period (`retireAfter`) is
    /// over, or all of them with `force`. Each is audited; a database another controller works
    /// on is skipped. Returns one line per changeover looked at.
    public func retire(database: String? = nil, now: Date = Date(), force: Bool = false) async throws -> [String] {
        var lines: [String] = []
        for var record in try store.changeovers()
        where record.machine.step == .done && record.facts.oldRetired != true {
            guard database == nil || record.database == database else { continue }
            let due = record.facts["old.retireAt"].flatMap { ISO8601DateFormatter().date(from: $0) } ?? .distantPast
            guard force || due <= now else {
                lines.append("\(record.id): the old primary is kept until \(ISO8601DateFormatter().string(from: due))")
                continue
            }
            let lock: DatabaseLock
            do {
                lock = try store.lock(database: record.database, changeover: record.id, actor: actor)
            } catch let busy as DatabaseBusy {
                lines.append("\(record.id): skipped, \(busy.description)")
                continue
            }
            let prepared = try prepare(resuming: record)
            let old = record.facts["old.address"].map { " (\($0))" } ?? ""
            let id = record.id
            let name = record.database
            func entry(_ outcome: String, _ message: String) -> AuditEntry {
                AuditEntry(changeover: id, database: name, step: "retire", outcome: outcome, message: message)
            }
            let why = force ? "forced" : "its grace period over"
            try journal.record([entry("started", "the old primary\(old), \(why)")])
            let outcome: AuditEntry
            do {
                let done = try await prepared.engine.retireOldPrimary(&record.facts)
                outcome = entry("succeeded", done)
                lines.append("\(record.id): \(done)")
            } catch {
                outcome = entry("failed", Self.describe(error))
                lines.append("\(record.id): not retired: \(Self.describe(error))")
            }
            record.updatedAt = Date()
            try journal.record(outcome) { try store.save(record) }
            withExtendedLifetime(lock) {}
        }
        return lines
    }
}
