import Foundation

/// Where `StateStore` keeps its data: an SQLite file in the state directory (the embedded
/// default, `SQLiteStateStorage`), later a Postgres database shared by several controllers.
/// Every method is short and synchronous: callers on the cooperative pool may call it.
public protocol StateStorage: Sendable {
    /// Saves a changeover. `durable` (the default for a step's record) returns once the record
    /// survives a power loss; otherwise once it survives the process being killed, which is all
    /// a write inside the write pause waits for (the next durable write makes it durable too).
    func save(_ record: ChangeoverRecord, durable: Bool) throws
    func changeover(_ id: String) throws -> ChangeoverRecord?
    /// All changeovers, newest first.
    func changeovers() throws -> [ChangeoverRecord]

    /// Saves a changeover that has finished and replaces its measured durations with `durations`,
    /// in one durable transaction.
    func finish(_ record: ChangeoverRecord, durations: [DurationSample]) throws
    /// The newest `limit` durations of `step`, of one database or (nil) of all, newest first.
    func durations(database: String?, step: String, limit: Int) throws -> [DurationSample]

    func save(_ state: DatabaseState) throws
    func database(_ name: String) throws -> DatabaseState?

    /// Notes that only `status` reads (the latest progress line, the latest retry): replaced,
    /// never synced.
    func save(_ note: ChangeoverNote) throws
    func note(_ kind: ChangeoverNote.Kind, of changeover: String) throws -> ChangeoverNote?
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
