import Foundation

/// The controller's durable state: changeovers with their step and facts, each database's
/// current primary, the history of measured durations, and notes for `status`. Kept by a
/// `StateStorage`: by default the SQLite file `state.sqlite` in the state directory, opened on
/// first use and shared by every `StateStore` of the process. The per-database locks are
/// `flock` files beside it (`StateStore+Locks`).
///
/// Reading a directory that holds no state yet finds nothing and creates nothing.
public struct StateStore: Sendable {
    public var directory: String
    private let given: (any StateStorage)?
    /// The config's `store:` when it names Postgres, with the environment its password is in.
    private let postgres: (config: StoreConfig, environment: [String: String])?
    /// How long a lease lasts unless renewed (`store.leaseTtl`).
    public var leaseTTL: Duration = StoreConfig().leaseTTL

    public init(directory: String) {
        self.directory = directory
        given = nil
        postgres = nil
    }

    /// A store kept by `storage`; `directory` still holds the locks.
    public init(directory: String, storage: any StateStorage, leaseTTL: Duration = StoreConfig().leaseTTL) {
        self.directory = directory
        given = storage
        postgres = nil
        self.leaseTTL = leaseTTL
    }

    /// The store the config names: its `store:` (Postgres), else the SQLite file in its state
    /// directory. The state directory holds the per-host locks and logs either way.
    public init(config: FleetConfig, environment: [String: String] = ProcessInfo.processInfo.environment) {
        directory = config.stateDirectory
        given = nil
        postgres = config.store.kind == .postgres ? (config.store, environment) : nil
        leaseTTL = config.store.leaseTTL
    }

    /// Where writes go, created on first use.
    func storage() throws -> any StateStorage {
        if let given { return given }
        if let postgres, let conninfo = postgres.config.conninfo {
            return try PostgresStateStorage.shared(
                conninfo: conninfo, password: postgres.config.password,
                environment: postgres.environment)
        }
        return try SQLiteStateStorage.shared(directory: directory)
    }

    /// Where reads come from; nil when nothing was ever stored.
    func existingStorage() throws -> (any StateStorage)? {
        if given != nil || postgres != nil { return try storage() }
        return try SQLiteStateStorage.existing(directory: directory)
    }

    /// Whether controllers on several hosts share the store (Postgres): leases are then the
    /// only thing that keeps two of them off one database.
    public var isShared: Bool { given?.isShared ?? (postgres != nil) }

    // MARK: leases

    /// Saves a changeover's record only while `lease` is the database's current lease; throws
    /// `LeaseLost` otherwise.
    public func save(_ record: ChangeoverRecord, sync: Bool = true, lease: Lease) throws {
        try storage().save(record, durable: sync, fencedBy: lease)
    }

    /// Claims `database` for `changeover` (see `StateStorage.claim`); nil when another holds it.
    public func claim(database: String, changeover: String, holder: String, daemon: Bool) async throws -> Lease? {
        try await storage().claim(
            database: database, changeover: changeover, holder: holder, ttl: leaseTTL, daemon: daemon)
    }

    public func renew(_ lease: Lease) async throws -> Lease? {
        try await storage().renew(lease, ttl: leaseTTL)
    }

    public func release(_ lease: Lease) async throws {
        try await storage().release(lease)
    }

    public func lease(of database: String) async throws -> LeaseState? {
        try await storage().lease(of: database)
    }

    /// Saves a changeover's record. With `sync: false` (inside the write pause) it survives the
    /// process being killed but is synced to disk only with the next synced write.
    public func save(_ record: ChangeoverRecord, sync: Bool = true) throws {
        try storage().save(record, durable: sync)
    }

    /// Saves several changeovers' records in one durable transaction (SQLite) or one after
    /// the other (Postgres, each committed).
    public func save(_ records: [ChangeoverRecord]) throws {
        try storage().save(records)
    }

    public func changeover(_ id: String) throws -> ChangeoverRecord? {
        try existingStorage()?.changeover(id)
    }

    /// All changeovers, newest first.
    public func changeovers() throws -> [ChangeoverRecord] {
        try existingStorage()?.changeovers() ?? []
    }

    /// Every changeover's id and `updatedAt` as stored, newest first, without decoding a record.
    public func changeoverStamps() throws -> [ChangeoverStamp] {
        try existingStorage()?.changeoverStamps() ?? []
    }

    /// A number that changes with every write of a changeover or a database's state (see
    /// `StateStorage.changeVersion`); nil when the storage keeps none or nothing is stored yet.
    public func changeVersion() throws -> Int64? {
        try existingStorage()?.changeVersion() ?? nil
    }

    /// The changeovers of `ids` that exist, with their stamps, in no particular order.
    public func changeovers(ids: [String]) throws -> [(stamp: ChangeoverStamp, record: ChangeoverRecord)] {
        guard !ids.isEmpty else { return [] }
        return try existingStorage()?.changeovers(ids: ids) ?? []
    }

    /// One database's changeovers, newest first.
    public func changeovers(database: String) throws -> [ChangeoverRecord] {
        try existingStorage()?.changeovers(database: database) ?? []
    }

    /// The databases that have any changeover (nil: not known, read each database's).
    public func databasesWithChangeovers() throws -> Set<String>? {
        guard let storage = try existingStorage() else { return [] }
        return try storage.databasesWithChangeovers()
    }

    /// The databases that have any durations history (nil: not known, read each database's).
    public func databasesWithDurations() throws -> Set<String>? {
        guard let storage = try existingStorage() else { return [] }
        return try storage.databasesWithDurations()
    }

    /// Saves a changeover that has ended and records its durations in the history.
    public func finish(_ record: ChangeoverRecord, engine: String?) throws {
        try storage().finish(record, durations: DurationSample.samples(of: record, engine: engine))
    }

    /// The newest `limit` durations of `step` (a step, `switchover`, `basebackup`, `writePause`),
    /// of one database or of all, newest first.
    public func durations(database: String? = nil, step: String, limit: Int) throws -> [DurationSample] {
        try existingStorage()?.durations(database: database, step: step, limit: limit) ?? []
    }

    /// What the estimates of `database` are computed from: its last five switchovers, the last
    /// ten base backups of any database (`fleetBaseBackups` when the caller read them already,
    /// as a daemon does once per look at thousands) and its own last one.
    public func estimateHistory(database: String, fleetBaseBackups: [DurationSample]? = nil) throws -> [DurationSample]
    {
        try estimateHistory(database: database, fleetBaseBackups: fleetBaseBackups, hasOwn: true)
    }

    /// As `estimateHistory(database:fleetBaseBackups:)`; `hasOwn` false when the caller knows
    /// the database has no durations of its own (`databasesWithDurations`): nothing is read.
    public func estimateHistory(database: String, fleetBaseBackups: [DurationSample]?, hasOwn: Bool) throws
        -> [DurationSample]
    {
        let own = hasOwn ? try durations(database: database, step: DurationSample.switchover, limit: 5) : []
        let fleet = try fleetBaseBackups ?? durations(step: DurationSample.basebackup, limit: 10)
        let last = hasOwn ? try durations(database: database, step: DurationSample.basebackup, limit: 1) : []
        let samples = own + fleet + last
        var seen = Set<DurationSample>()
        return samples.filter { seen.insert($0).inserted }
    }

    public func save(_ state: DatabaseState) throws {
        try storage().save(state)
    }

    public func database(_ name: String) throws -> DatabaseState? {
        try existingStorage()?.database(name)
    }

    /// Every database a changeover moved, by name.
    public func databases() throws -> [String: DatabaseState] {
        var byName: [String: DatabaseState] = [:]
        for state in try existingStorage()?.databases() ?? [] { byName[state.database] = state }
        return byName
    }

    // MARK: notes for status

    /// The last progress line of a running changeover (written at most once a second).
    public func progress(of changeover: String) -> String? {
        progressNote(of: changeover)?.text
    }

    /// The last progress line with the time it was written.
    public func progressNote(of changeover: String) -> ChangeoverNote? {
        (try? existingStorage()?.note(.progress, of: changeover)) ?? nil
    }

    /// The latest retry of a changeover's remote calls, for `status`.
    public func lastRetry(of changeover: String) -> RetryNote? {
        guard let note = (try? existingStorage()?.note(.retry, of: changeover)) ?? nil else { return nil }
        return try? JSONDecoder().decode(RetryNote.self, from: Data(note.text.utf8))
    }

    /// Best effort: a note that cannot be written does not stop a changeover.
    func saveRetry(_ note: RetryNote, of changeover: String) {
        guard let data = try? JSONEncoder().encode(note) else { return }
        try? storage().save(
            ChangeoverNote(
                changeover: changeover, kind: .retry, text: String(decoding: data, as: UTF8.self), at: note.at))
    }

    func saveProgress(_ text: String, of changeover: String) {
        try? storage().save(ChangeoverNote(changeover: changeover, kind: .progress, text: text, at: Date()))
    }
}
