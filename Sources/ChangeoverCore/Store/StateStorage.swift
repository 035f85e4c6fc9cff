import Foundation

/// Where `StateStore` keeps its data: an SQLite file in the state directory (the embedded
/// default, `SQLiteStateStorage`), or a Postgres database shared by several controllers
/// (`PostgresStateStorage`).
///
/// The record methods are short and synchronous: one statement or one short transaction with
/// a deadline, which callers on the cooperative pool may afford (SQLite: an fsync; Postgres: a
/// round trip on the store connection's own thread, at most `PostgresStateStorage.deadline`).
/// The lease methods are `async`: the daemon calls them on a timer and before every step, and
/// the Postgres store answers them without occupying a thread of the pool while it waits.
public protocol StateStorage: Sendable {
    /// Whether several hosts share the store: leases are then the only exclusion between
    /// controllers, and an abandoned lease's changeover is resumed by another daemon. False for
    /// SQLite, where the `flock` locks of `StateStore+Locks` exclude and leases only count tokens.
    var isShared: Bool { get }
    /// Saves a changeover. `durable` (the default for a step's record) returns once the record
    /// survives a power loss; otherwise once it survives the process being killed, which is all
    /// a write inside the write pause waits for (the next durable write makes it durable too).
    func save(_ record: ChangeoverRecord, durable: Bool) throws
    /// Several records, durable once it returns.
    func save(_ records: [ChangeoverRecord]) throws
    func changeover(_ id: String) throws -> ChangeoverRecord?
    /// All changeovers, newest first.
    func changeovers() throws -> [ChangeoverRecord]
    /// One database's changeovers, newest first (by its index: callers that look at every
    /// database in turn must not decode every record each time).
    func changeovers(database: String) throws -> [ChangeoverRecord]
    /// Every changeover's id and `updatedAt` as its row holds it, in `changeovers()`'s order,
    /// without decoding a record: what a reader that keeps decoded records compares.
    func changeoverStamps() throws -> [ChangeoverStamp]
    /// The changeovers of `ids` that exist, each with its row's stamp, in no particular order.
    func changeovers(ids: [String]) throws -> [(stamp: ChangeoverStamp, record: ChangeoverRecord)]
    /// A number that changes whenever a changeover or a database's state is written, by any
    /// process: a reader that kept what it read may keep it while the number stays the same.
    /// Nil when the storage keeps no such number (the reader must read the stamps).
    func changeVersion() throws -> Int64?

    /// Saves a changeover that has finished and replaces its measured durations with `durations`,
    /// in one durable transaction.
    func finish(_ record: ChangeoverRecord, durations: [DurationSample]) throws
    /// The newest `limit` durations of `step`, of one database or (nil) of all, newest first.
    func durations(database: String?, step: String, limit: Int) throws -> [DurationSample]
    /// The databases that have any changeover, or any durations history: what lets a batch of
    /// scheduled changeovers skip one read per database for the others. Nil (read each) where a
    /// storage does not say.
    func databasesWithChangeovers() throws -> Set<String>?
    func databasesWithDurations() throws -> Set<String>?

    func save(_ state: DatabaseState) throws
    func database(_ name: String) throws -> DatabaseState?
    /// Every database a changeover moved, in one read (a daemon's look at thousands).
    func databases() throws -> [DatabaseState]

    /// Notes that only `status` reads (the latest progress line, the latest retry): replaced,
    /// never synced.
    func save(_ note: ChangeoverNote) throws
    func note(_ kind: ChangeoverNote.Kind, of changeover: String) throws -> ChangeoverNote?

    // MARK: inventory

    /// Saves databases of the inventory, each replacing the row of its name, all or none in one
    /// transaction; returns once the rows survive a power loss (SQLite: synced; Postgres: committed).
    func saveInventory(_ entries: [InventoryEntry]) throws
    /// Removes the inventory's row `name`, durably; whether there was one.
    func removeInventory(_ name: String) throws -> Bool
    /// Every database of the inventory, sorted by name.
    func inventory() throws -> [InventoryEntry]
    func inventoryEntry(_ name: String) throws -> InventoryEntry?

    // MARK: leases

    /// Saves a changeover only while `lease` is still the database's current lease (its token,
    /// unexpired): the one write a controller that lost its lease cannot make. Throws `LeaseLost`.
    func save(_ record: ChangeoverRecord, durable: Bool, fencedBy lease: Lease) throws

    /// Claims the database's lease for `ttl` when nobody holds it (never held, released, or
    /// expired), with the next fencing token; nil when another holder has it (or is claiming it
    /// this instant: the row is skipped, not waited for).
    func claim(database: String, changeover: String, holder: String, ttl: Duration, daemon: Bool) async throws -> Lease?
    /// Extends the lease by `ttl` from now if it is still the current one and unexpired; nil
    /// when it was lost. A conditional write on the token.
    func renew(_ lease: Lease, ttl: Duration) async throws -> Lease?
    /// Lets the lease go (only if it is still the current one).
    func release(_ lease: Lease) async throws
    /// The database's last lease, released or not; nil when none was ever claimed.
    func lease(of database: String) async throws -> LeaseState?

    // MARK: campaigns

    /// Saves a campaign's progress. Its `control` is written only when the campaign is new:
    /// after that only `setControl` writes it (see `Campaign`).
    func save(_ campaign: Campaign) throws
    /// `save(_:)` only while `lease` is still the current lease on the campaign's lock name (as
    /// a changeover's `save(_:durable:fencedBy:)`); throws `LeaseLost` and writes nothing if not.
    func save(_ campaign: Campaign, fencedBy lease: Lease) throws
    /// Writes the operator's word about a campaign, leaving its progress alone; false when no
    /// such campaign exists.
    func setControl(_ control: Campaign.Control, of campaign: String) throws -> Bool
    func campaign(_ id: String) throws -> Campaign?
    /// All campaigns, newest first.
    func campaigns() throws -> [Campaign]
}

extension StateStorage {
    public func changeVersion() throws -> Int64? { nil }

    public func databasesWithChangeovers() throws -> Set<String>? { nil }
    public func databasesWithDurations() throws -> Set<String>? { nil }
}

/// The latest note of one kind about a running changeover.
public struct ChangeoverNote: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// A progress line, written at most once a second.
        case progress
        /// A `RetryNote` as JSON.
        case retry
    }

    public var changeover: String
    public var kind: Kind
    public var text: String
    public var at: Date

    public init(changeover: String, kind: Kind, text: String, at: Date) {
        self.changeover = changeover
        self.kind = kind
        self.text = text
        self.at = at
    }
}
