import Foundation
import GRDB
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The embedded state store: one SQLite file, `state.sqlite`, in the state directory.
///
/// - WAL mode: `status` and the daemon read while a controller writes, and never wait for it.
/// - `synchronous = FULL`: a step's record is on disk (the WAL fsynced) before the step acts.
///   A write that is not `durable` (inside the write pause) runs with `synchronous = NORMAL`
///   and without the automatic checkpoint: it reaches the WAL file, so a killed process loses
///   nothing, and the next durable commit syncs it with its own.
/// - `busy_timeout` 10 s: two writers (two controllers, the daemon) wait for each other's short
///   transactions instead of failing; every write is one short `BEGIN IMMEDIATE` transaction.
///
/// A `DatabasePool` (one writer connection, readers beside it) rather than a `DatabaseQueue`:
/// the daemon serves `/status` from the same process that runs changeovers, and a pool's
/// readers do not queue behind the writer's fsync. Processes share the file through SQLite's
/// own locks; the per-database controller locks stay `flock` files (`StateStore+Locks`).
///
/// Every call blocks its thread for one short query or one commit (an fsync, milliseconds),
/// which the cooperative pool can afford; nothing here waits for anything else.
public final class SQLiteStateStorage: StateStorage {
    public static let fileName = "state.sqlite"

    public let path: String
    let pool: DatabasePool
    /// The file's inode when opened: a file removed or replaced since is opened again.
    let inode: UInt64

    /// Opens the directory's state file, creating it (and the directory) when missing, brings
    /// its schema up to date and imports the JSON files an earlier version wrote there. Holds
    /// an `flock` on the directory meanwhile, so processes opening a new store at once create
    /// and import it once.
    public init(directory: String) throws {
        let path = "\(directory)/\(Self.fileName)"
        self.path = path
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let directoryFD = open(directory, O_RDONLY | O_CLOEXEC | O_DIRECTORY)
        guard directoryFD >= 0 else {
            throw StoreError("cannot open the state directory \(directory): \(String(cString: strerror(errno)))")
        }
        defer { close(directoryFD) }
        flock(directoryFD, LOCK_EX)
        defer { flock(directoryFD, LOCK_UN) }
        // Created here so that it is 0600 (SQLite gives its WAL and shm files the same mode).
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw StoreError("cannot open the state store \(path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        fstat(fd, &status)
        close(fd)
        inode = UInt64(status.st_ino)

        var configuration = Configuration()
        configuration.label = "changeover state"
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 2
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator(directory: directory).migrate(pool)
        } catch {
            throw Self.storeError(error, path)
        }
    }

    // MARK: schema

    static func migrator(directory: String) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            // A changeover is its record as JSON (the same Codable shape the JSON files had)
            // plus the columns it is looked up and sorted by.
            try db.execute(
                sql: """
                    CREATE TABLE changeovers (
                        id TEXT PRIMARY KEY NOT NULL,
                        databaseName TEXT NOT NULL,
                        step TEXT NOT NULL,
                        startedAt REAL NOT NULL,
                        updatedAt REAL NOT NULL,
                        record TEXT NOT NULL);
                    CREATE INDEX changeoversByStart ON changeovers(startedAt);
                    CREATE INDEX changeoversByDatabase ON changeovers(databaseName, startedAt);
                    -- The current primary of each database a changeover moved.
                    CREATE TABLE databases (
                        name TEXT PRIMARY KEY NOT NULL,
                        image TEXT NOT NULL,
                        changeover TEXT NOT NULL,
                        changedAt REAL NOT NULL,
                        state TEXT NOT NULL);
                    -- What finished changeovers measured: the estimates' history.
                    CREATE TABLE durations (
                        changeover TEXT NOT NULL,
                        databaseName TEXT NOT NULL,
                        engine TEXT,
                        step TEXT NOT NULL,
                        outcome TEXT,
                        milliseconds REAL NOT NULL,
                        bytes INTEGER,
                        at REAL NOT NULL);
                    CREATE INDEX durationsByStep ON durations(step, at);
                    CREATE INDEX durationsByDatabase ON durations(databaseName, step, at);
                    CREATE INDEX durationsByChangeover ON durations(changeover);
                    -- The latest progress line and retry of each running changeover, for status.
                    CREATE TABLE notes (
                        changeover TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        text TEXT NOT NULL,
                        at REAL NOT NULL,
                        PRIMARY KEY (changeover, kind)) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("import the JSON state files") { db in
            try importJSONFiles(directory: directory, db)
        }
        migrator.registerMigration("v2 leases") { db in
            // The last lease of each database: its fencing token counts the claims.
            try db.execute(
                sql: """
                    CREATE TABLE leases (
                        databaseName TEXT PRIMARY KEY NOT NULL,
                        changeover TEXT NOT NULL,
                        holder TEXT NOT NULL,
                        token INTEGER NOT NULL,
                        expiresAt REAL NOT NULL,
                        daemon INTEGER NOT NULL,
                        released INTEGER NOT NULL) WITHOUT ROWID;
                    """)
        }
        migrator.registerMigration("v3 campaigns") { db in
            // A campaign's progress as JSON, and apart from it the operator's latest word.
            try db.execute(
                sql: """
                    CREATE TABLE campaigns (
                        id TEXT PRIMARY KEY NOT NULL,
                        createdAt REAL NOT NULL,
                        campaign TEXT NOT NULL,
                        control TEXT NOT NULL);
                    """)
        }
        registerInventoryMigration(in: &migrator)
        migrator.registerMigration("v4 change counter") { db in
            // Counts the writes to changeovers and databases' states, whoever makes them (the
            // CLI, another controller): a daemon that looks at thousands of changeovers every
            // tick and on every `/status` reads this one row instead of every row's stamp while
            // nothing changed. A trigger costs one in-page update per row written.
            var sql = """
                CREATE TABLE changeCounter (id INTEGER PRIMARY KEY CHECK (id = 1), value INTEGER NOT NULL);
                INSERT INTO changeCounter (id, value) VALUES (1, 0);

                """
            for table in ["changeovers", "databases"] {
                for event in ["INSERT", "UPDATE", "DELETE"] {
                    sql +=
                        "CREATE TRIGGER \(table)\(event.capitalized)Counted AFTER \(event) ON \(table) "
                        + "BEGIN UPDATE changeCounter SET value = value + 1 WHERE id = 1; END;\n"
                }
            }
            try db.execute(sql: sql)
        }
        return migrator
    }

    // MARK: campaigns

    public func save(_ campaign: Campaign) throws {
        let json = try Self.encode(campaign)
        let control = try Self.encode(campaign.control)
        try write(durable: true) { db in
            try db.execute(
                sql: """
                    INSERT INTO campaigns (id, createdAt, campaign, control) VALUES (?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign
                    """, arguments: [campaign.id, campaign.createdAt.timeIntervalSince1970, json, control])
        }
    }

    public func save(_ campaign: Campaign, fencedBy lease: Lease) throws {
        let json = try Self.encode(campaign)
        let control = try Self.encode(campaign.control)
        var current: Int64?
        try write(durable: true) { db in
            current = try Int64.fetchOne(
                db, sql: "SELECT token FROM leases WHERE databaseName = ? AND NOT released",
                arguments: [lease.database])
            guard current == lease.token else { return }
            try db.execute(
                sql: """
                    INSERT INTO campaigns (id, createdAt, campaign, control) VALUES (?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign
                    """, arguments: [campaign.id, campaign.createdAt.timeIntervalSince1970, json, control])
        }
        guard current == lease.token else {
            throw LeaseLost(
                database: lease.database, token: lease.token,
                reason: current.map { "another controller holds fencing token \($0)" } ?? "it was released")
        }
    }

    public func setControl(_ control: Campaign.Control, of campaign: String) throws -> Bool {
        let json = try Self.encode(control)
        var changed = false
        try write(durable: true) { db in
            try db.execute(sql: "UPDATE campaigns SET control = ? WHERE id = ?", arguments: [json, campaign])
            changed = db.changesCount == 1
        }
        return changed
    }

    public func campaign(_ id: String) throws -> Campaign? {
        let row = try read { db in
            try Row.fetchOne(db, sql: "SELECT campaign, control FROM campaigns WHERE id = ?", arguments: [id])
        }
        return try row.map { try campaign(id, $0["campaign"], $0["control"]) }
    }

    public func campaigns() throws -> [Campaign] {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT id, campaign, control FROM campaigns ORDER BY createdAt DESC, id DESC")
        }
        return try rows.map { try campaign($0["id"], $0["campaign"], $0["control"]) }
    }

    private func campaign(_ id: String, _ json: String, _ control: String) throws -> Campaign {
        var campaign = try decode(Campaign.self, json, what: "campaign \(id)")
        campaign.control = try decode(Campaign.Control.self, control, what: "campaign \(id)")
        return campaign
    }

    // MARK: changeovers

    public func save(_ record: ChangeoverRecord, durable: Bool) throws {
        let json = try Self.encode(record)
        try write(durable: durable) { db in try Self.upsert(record, json: json, db) }
    }

    /// One transaction, one sync, however many records.
    public func save(_ records: [ChangeoverRecord]) throws {
        let encoded = try records.map { ($0, try Self.encode($0)) }
        try write(durable: true) { db in
            for (record, json) in encoded { try Self.upsert(record, json: json, db) }
        }
    }

    // A cached statement: compiling it for each of a batch's 500 records cost more than running it.
    static func upsert(_ record: ChangeoverRecord, json: String, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT INTO changeovers (id, databaseName, step, startedAt, updatedAt, record) VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (id) DO UPDATE SET databaseName = excluded.databaseName, step = excluded.step,
                    startedAt = excluded.startedAt, updatedAt = excluded.updatedAt, record = excluded.record
                """
        )
        .execute(arguments: [
            record.id, record.database, record.machine.step.rawValue, record.startedAt.timeIntervalSince1970,
            record.updatedAt.timeIntervalSince1970, json,
        ])
    }

    // The reads a daemon makes for each scheduled changeover on every look use cached
    // statements: compiling one (GRDB's authorizer included) cost more than running it.
    public func changeover(_ id: String) throws -> ChangeoverRecord? {
        let json = try read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT record FROM changeovers WHERE id = ?"), arguments: [id])
        }
        return try json.map { try decode(ChangeoverRecord.self, $0, what: "changeover \(id)") }
    }

    public func changeovers() throws -> [ChangeoverRecord] {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT id, record FROM changeovers ORDER BY startedAt DESC, rowid DESC")
                .map { (id: $0["id"] as String, json: $0["record"] as String) }
        }
        return try rows.map { try decode(ChangeoverRecord.self, $0.json, what: "changeover \($0.id)") }
    }

    public func changeoverStamps() throws -> [ChangeoverStamp] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT id, updatedAt FROM changeovers ORDER BY startedAt DESC, rowid DESC")
                .map { ChangeoverStamp(id: $0["id"], updatedAt: $0["updatedAt"]) }
        }
    }

    public func changeVersion() throws -> Int64? {
        try read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT value FROM changeCounter WHERE id = 1")) }
    }

    public func changeovers(ids: [String]) throws -> [(stamp: ChangeoverStamp, record: ChangeoverRecord)] {
        var rows: [(stamp: ChangeoverStamp, json: String)] = []
        for start in stride(from: 0, to: ids.count, by: ChangeoverStamp.batch) {
            let batch = Array(ids[start..<min(start + ChangeoverStamp.batch, ids.count)])
            rows += try read { db in
                try Row.fetchAll(
                    db,
                    sql:
                        "SELECT id, updatedAt, record FROM changeovers WHERE id IN (\(databaseQuestionMarks(count: batch.count)))",
                    arguments: StatementArguments(batch)
                )
                .map { (ChangeoverStamp(id: $0["id"], updatedAt: $0["updatedAt"]), $0["record"]) }
            }
        }
        return try rows.map {
            ($0.stamp, try decode(ChangeoverRecord.self, $0.json, what: "changeover \($0.stamp.id)"))
        }
    }

    public func changeovers(database: String) throws -> [ChangeoverRecord] {
        let rows = try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT id, record FROM changeovers WHERE databaseName = ? ORDER BY startedAt DESC, rowid DESC"
                ),
                arguments: [database]
            )
            .map { (id: $0["id"] as String, json: $0["record"] as String) }
        }
        return try rows.map { try decode(ChangeoverRecord.self, $0.json, what: "changeover \($0.id)") }
    }

    public func databasesWithChangeovers() throws -> Set<String>? {
        try read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT databaseName FROM changeovers")) }
    }

    // MARK: durations

    public func databasesWithDurations() throws -> Set<String>? {
        try read { db in Set(try String.fetchAll(db, sql: "SELECT DISTINCT databaseName FROM durations")) }
    }

    public func finish(_ record: ChangeoverRecord, durations: [DurationSample]) throws {
        let json = try Self.encode(record)
        try write(durable: true) { db in
            try Self.upsert(record, json: json, db)
            try Self.replaceDurations(of: record.id, with: durations, db)
        }
    }

    static func replaceDurations(of changeover: String, with durations: [DurationSample], _ db: Database) throws {
        try db.execute(sql: "DELETE FROM durations WHERE changeover = ?", arguments: [changeover])
        for sample in durations {
            try db.execute(
                sql: """
                    INSERT INTO durations (changeover, databaseName, engine, step, outcome, milliseconds, bytes, at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    sample.changeover, sample.database, sample.engine, sample.step, sample.outcome,
                    sample.milliseconds, sample.bytes, sample.at.timeIntervalSince1970,
                ])
        }
    }

    public func durations(database: String?, step: String, limit: Int) throws -> [DurationSample] {
        try read { db in
            let rows =
                if let database {
                    try Row.fetchAll(
                        db.cachedStatement(
                            sql:
                                "SELECT * FROM durations WHERE databaseName = ? AND step = ? ORDER BY at DESC, rowid DESC LIMIT ?"
                        ),
                        arguments: [database, step, limit])
                } else {
                    try Row.fetchAll(
                        db.cachedStatement(
                            sql: "SELECT * FROM durations WHERE step = ? ORDER BY at DESC, rowid DESC LIMIT ?"),
                        arguments: [step, limit])
                }
            return rows.map { row in
                DurationSample(
                    changeover: row["changeover"], database: row["databaseName"], engine: row["engine"],
                    step: row["step"],
                    outcome: row["outcome"], milliseconds: row["milliseconds"], bytes: row["bytes"],
                    at: Date(timeIntervalSince1970: row["at"]))
            }
        }
    }

    // MARK: databases

    public func save(_ state: DatabaseState) throws {
        let json = try Self.encode(state)
        try write(durable: true) { db in try Self.upsert(state, json: json, db) }
    }

    static func upsert(_ state: DatabaseState, json: String, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO databases (name, image, changeover, changedAt, state) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET image = excluded.image, changeover = excluded.changeover,
                    changedAt = excluded.changedAt, state = excluded.state
                """,
            arguments: [state.database, state.image, state.changeover, state.changedAt.timeIntervalSince1970, json])
    }

    public func database(_ name: String) throws -> DatabaseState? {
        let json = try read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT state FROM databases WHERE name = ?"), arguments: [name])
        }
        return try json.map { try decode(DatabaseState.self, $0, what: "database \(name)") }
    }

    public func databases() throws -> [DatabaseState] {
        let rows = try read { db in
            try Row.fetchAll(db, sql: "SELECT name, state FROM databases ORDER BY name").map {
                (name: $0["name"] as String, json: $0["state"] as String)
            }
        }
        return try rows.map { try decode(DatabaseState.self, $0.json, what: "database \($0.name)") }
    }

    // MARK: notes

    public func save(_ note: ChangeoverNote) throws {
        try write(durable: false) { db in
            try db.execute(
                sql: """
                    INSERT INTO notes (changeover, kind, text, at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (changeover, kind) DO UPDATE SET text = excluded.text, at = excluded.at
                    """, arguments: [note.changeover, note.kind.rawValue, note.text, note.at.timeIntervalSince1970])
        }
    }

    public func note(_ kind: ChangeoverNote.Kind, of changeover: String) throws -> ChangeoverNote? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT text, at FROM notes WHERE changeover = ? AND kind = ?",
                arguments: [changeover, kind.rawValue]
            )
            .map {
                ChangeoverNote(
                    changeover: changeover, kind: kind, text: $0["text"], at: Date(timeIntervalSince1970: $0["at"]))
            }
        }
    }

    // MARK: leases

    /// One host: the `flock` locks exclude controllers, and a lease here only numbers the claims
    /// (a claim always succeeds and takes the next token) so that audit records carry a token
    /// whatever the store.
    public var isShared: Bool { false }

    public func save(_ record: ChangeoverRecord, durable: Bool, fencedBy lease: Lease) throws {
        let json = try Self.encode(record)
        var current: Int64?
        try write(durable: durable) { db in
            current = try Int64.fetchOne(
                db, sql: "SELECT token FROM leases WHERE databaseName = ? AND NOT released",
                arguments: [lease.database])
            guard current == lease.token else { return }
            try Self.upsert(record, json: json, db)
        }
        guard current == lease.token else {
            throw LeaseLost(
                database: lease.database, token: lease.token,
                reason: current.map { "another controller holds fencing token \($0)" } ?? "it was released")
        }
    }

    public func claim(database: String, changeover: String, holder: String, ttl: Duration, daemon: Bool) async throws
        -> Lease?
    {
        var lease = Lease(
            database: database, changeover: changeover, holder: holder, token: 0,
            expiresAt: Date().addingTimeInterval(ttl.seconds), daemon: daemon)
        try write(durable: true) { db in
            let token =
                try Int64.fetchOne(db, sql: "SELECT token FROM leases WHERE databaseName = ?", arguments: [database])
                ?? 0
            lease.token = token + 1
            try db.execute(
                sql: """
                    INSERT INTO leases (databaseName, changeover, holder, token, expiresAt, daemon, released) VALUES (?, ?, ?, ?, ?, ?, 0)
                    ON CONFLICT (databaseName) DO UPDATE SET changeover = excluded.changeover, holder = excluded.holder,
                        token = excluded.token, expiresAt = excluded.expiresAt, daemon = excluded.daemon, released = 0
                    """,
                arguments: [database, changeover, holder, lease.token, lease.expiresAt.timeIntervalSince1970, daemon])
        }
        return lease
    }

    /// Only checks the token: nothing expires on one host, so nothing needs writing (no fsync
    /// inside the write pause).
    public func renew(_ lease: Lease, ttl: Duration) async throws -> Lease? {
        let token = try read { db in
            try Int64.fetchOne(
                db, sql: "SELECT token FROM leases WHERE databaseName = ? AND NOT released", arguments: [lease.database]
            )
        }
        guard token == lease.token else { return nil }
        var renewed = lease
        renewed.expiresAt = Date().addingTimeInterval(ttl.seconds)
        return renewed
    }

    public func release(_ lease: Lease) async throws {
        try write(durable: true) { db in
            try db.execute(
                sql: "UPDATE leases SET released = 1 WHERE databaseName = ? AND token = ?",
                arguments: [lease.database, lease.token])
        }
    }

    public func lease(of database: String) async throws -> LeaseState? {
        try read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM leases WHERE databaseName = ?"), arguments: [database]
            ).map { row in
                let lease = Lease(
                    database: database, changeover: row["changeover"], holder: row["holder"], token: row["token"],
                    expiresAt: Date(timeIntervalSince1970: row["expiresAt"]), daemon: row["daemon"])
                return LeaseState(lease: lease, released: row["released"], expired: lease.expiresAt <= Date())
            }
        }
    }

    // MARK: access, encoding, errors

    /// One `BEGIN IMMEDIATE` transaction: the write lock is taken (or waited for, up to the busy
    /// timeout) before anything is read, so two writers never deadlock on an upgrade.
    private func write(durable: Bool, _ body: (Database) throws -> Void) throws {
        do {
            try pool.writeWithoutTransaction { db in
                if !durable { try db.execute(sql: "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0") }
                defer {
                    if !durable { try? db.execute(sql: "PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 1000") }
                }
                try db.inTransaction(.immediate) {
                    try body(db)
                    return .commit
                }
            }
        } catch {
            throw Self.storeError(error, path)
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try pool.read(body)
        } catch {
            throw Self.storeError(error, path)
        }
    }

    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    private func decode<T: Decodable>(_ type: T.Type, _ json: String, what: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(json.utf8))
        } catch {
            throw StoreError("\(what) in \(path) is unreadable: \(StoreError.oneLine(error))")
        }
    }

    /// The one place SQLite's errors become `StoreError`s: one line, with the file's path.
    static func storeError(_ error: any Error, _ path: String) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? DatabaseError {
            return StoreError(
                "cannot use the state store \(path): \(error.message ?? "\(error.resultCode)") "
                    + "(SQLite error \(error.extendedResultCode.rawValue))")
        }
        return StoreError("cannot use the state store \(path): \(StoreError.oneLine(error))")
    }
}

extension SQLiteStateStorage {
    private static let opened = Mutex<[String: SQLiteStateStorage]>([:])

    /// The process's storage for `directory`, opened (and created) on first use and kept open:
    /// callers make a `StateStore` per call.
    static func shared(directory: String) throws -> SQLiteStateStorage {
        let (key, inode) = Self.key(directory)
        if let open = opened.withLock({ $0[key] }), open.inode == inode { return open }
        let storage = try SQLiteStateStorage(directory: key)
        return opened.withLock { opened in
            if let other = opened[key], other.inode == storage.inode { return other }
            opened[key] = storage
            return storage
        }
    }

    /// Like `shared`, but nil when the directory holds no state yet: a `status` does not create
    /// a state directory.
    static func existing(directory: String) throws -> SQLiteStateStorage? {
        let (key, inode) = Self.key(directory)
        guard inode != nil || hasJSONFiles(directory: key) else { return nil }
        return try shared(directory: key)
    }

    /// Absolute directories as given, standardized: every store call looks its storage up, and
    /// standardizing a URL costs more than the query (the daemon makes ~10 per scheduled
    /// changeover per tick). A relative one depends on the working directory: not kept.
    private static let standardized = Mutex<[String: String]>([:])

    /// The standardized directory, and the inode of its state file if there is one.
    private static func key(_ directory: String) -> (String, UInt64?) {
        let key =
            standardized.withLock { $0[directory] }
            ?? {
                let key = URL(fileURLWithPath: directory).standardizedFileURL.path
                if directory.hasPrefix("/") { standardized.withLock { $0[directory] = key } }
                return key
            }()
        var status = stat()
        return (key, stat("\(key)/\(fileName)", &status) == 0 ? UInt64(status.st_ino) : nil)
    }
}
