import Foundation

/// The journal of one changeover driven under its database's lease: before every act it checks
/// that the lease is still ours, makes the audit records that authorise the act durable, and
/// saves the changeover's record (a write conditional on the lease's token) — in that order, so
/// that no reader of the store sees a step the audit log does not hold. A controller killed
/// between the two leaves a `started` record for a step the store does not show, which `resume`
/// performs (every step is idempotent). The executor writes its audit records nowhere else.
///
/// A step's outcome waits in the journal and is written together with the next step's start:
/// one sync per transition, always before the next step acts. Inside the write pause the
/// records are written but not synced (a killed controller loses none of them): the steps from
/// the fence on are authorised by the fence's synced record, and the first synced write after
/// the pause makes them durable.
final class ChangeoverJournal {
    let changeover: String
    let database: String
    let actor: String
    let store: StateStore
    let lease: LeaseKeeper
    private let log: AuditLog
    private var unwritten: [AuditEntry] = []

    init(_ journal: Journal, store: StateStore, lease: LeaseKeeper, changeover: String, database: String) throws {
        self.changeover = changeover
        self.database = database
        self.actor = journal.actor
        self.store = store
        self.lease = lease
        log = try journal.open()
    }

    /// Adds a record to what the next `flush` writes. Every record carries the lease's token
    /// and holder.
    func note(_ step: String, _ outcome: String, _ message: String? = nil, _ facts: [String: String] = [:]) {
        unwritten.append(
            AuditEntry(
                changeover: changeover, database: database, step: step, outcome: outcome,
                message: message, facts: facts.merging(lease.lease.auditFacts) { a, _ in a }))
    }

    /// Writes the records noted so far (synced unless `sync` is false), while the lease holds.
    func flush(sync: Bool = true) throws {
        try lease.check()
        try log.append(unwritten, actor: actor, time: Date(), sync: sync)
        unwritten.removeAll()
    }

    /// Saves the changeover's record, while the lease holds and only under its token.
    func persist(_ record: inout ChangeoverRecord, sync: Bool = true) throws {
        try lease.check()
        record.updatedAt = Date()
        try store.save(record, sync: sync, lease: lease.lease)
    }

    /// What comes before every act: the lease checked, the records noted so far written, the
    /// changeover's record saved.
    func authorise(_ record: inout ChangeoverRecord, sync: Bool = true) throws {
        try flush(sync: sync)
        try persist(&record, sync: sync)
    }

    /// Renews the lease with the store (a write conditional on its token): throws `LeaseLost`
    /// when it is gone, so that nothing more is done.
    func confirmLease() async throws {
        try await lease.confirm()
    }

    /// The changeover ended: its last records written, then its record and durations saved.
    func finish(_ record: inout ChangeoverRecord, engine: DatabaseConfig.EngineKind) throws {
        try flush()
        record.updatedAt = Date()
        try store.finish(record, engine: engine.rawValue)
    }
}
