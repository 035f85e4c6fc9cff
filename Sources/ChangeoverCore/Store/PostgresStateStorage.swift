import Foundation
import PostgresClient
import Synchronization

/// The state store in a Postgres database that several controllers share (several daemons on
/// different hosts): the same records as the SQLite store, in tables of the schema `changeover`
/// (created idempotently on first use), plus the leases that keep two controllers off one
/// database.
///
/// ## Leases
/// `changeover.leases` has one row per database: its last lease (holder, changeover, expiry by
/// the server's clock) and its fencing token, a counter that grows by one with every claim.
/// A claim takes the row only when it is released or expired, with `FOR UPDATE SKIP LOCKED`: of
/// two daemons claiming at once, one gets it and the other moves on without waiting. A holder
/// renews before each step and on a timer; a renewal and every record it saves are writes
/// conditional on its token (`… WHERE token = $n AND NOT released AND expires_at > now`), so a
/// holder whose lease expired or was taken over fails them and stops.
///
/// ## Threads
/// One connection per store, opened on first use and opened again after it broke. The lease
/// methods use the connection's async API (libpq's non-blocking calls on the connection's own
/// queue: no thread of the cooperative pool waits). The record methods are synchronous, like
/// the protocol's: the caller's thread waits while the connection's queue runs the statement,
/// at most `deadline`; on a reachable store that is one round trip. The queue runs one call at
/// a time, so a transaction's statements never interleave with another call's.
public final class PostgresStateStorage: StateStorage {
    public static let schema = "changeover"
    /// The longest any one call (statement, transaction, connect) may take.
    public static let deadline: Duration = .seconds(5)

    /// `host:port/dbname`, for errors: never the password.
    public let endpoint: String
    private let conninfo: ConnInfo
    private let connection = Mutex<PostgresConnection?>(nil)

    /// Connects (`password` joins the conninfo, never a message) and creates the schema if missing.
    public init(conninfo: ConnInfo, password: String?) throws {
        var info = conninfo.with("password", password)
        // A store that vanished must not hold a controller for TCP's minutes (MACHINE.md).
        for (key, value) in [
            ("connect_timeout", "5"), ("tcp_user_timeout", "10000"), ("keepalives", "1"),
            ("keepalives_idle", "5"), ("keepalives_interval", "2"), ("keepalives_count", "3"),
            ("application_name", "changeover"),
        ] where info[key] == nil {
            info = info.with(key, value)
        }
        self.conninfo = info
        endpoint = "\(conninfo.endpoint)/\(conninfo.database ?? "")"
        try blocking { session in
            _ = try session.query("BEGIN")
            // Two controllers starting at once: CREATE … IF NOT EXISTS is not safe against itself.
            _ = try session.query("SELECT pg_advisory_xact_lock(hashtext('changeover state schema'))")
            for statement in Self.schemaStatements { _ = try session.query(statement) }
            for statement in Self.inventorySchemaStatements { _ = try session.query(statement) }
            _ = try session.query("COMMIT")
        }
    }

    static let schemaStatements = [
        "CREATE SCHEMA IF NOT EXISTS \(schema)",
        """
        CREATE TABLE IF NOT EXISTS \(schema).changeovers (
            id text PRIMARY KEY, database_name text NOT NULL, step text NOT NULL,
            started_at double precision NOT NULL, updated_at double precision NOT NULL, record text NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS changeovers_by_start ON \(schema).changeovers (started_at)",
        "CREATE INDEX IF NOT EXISTS changeovers_by_database ON \(schema).changeovers (database_name, started_at)",
        """
        CREATE TABLE IF NOT EXISTS \(schema).databases (
            name text PRIMARY KEY, image text NOT NULL, changeover text NOT NULL, changed_at double precision NOT NULL,
            state text NOT NULL)
        """,
        """
        CREATE TABLE IF NOT EXISTS \(schema).durations (
            seq bigserial PRIMARY KEY, changeover text NOT NULL, database_name text NOT NULL, engine text, step text NOT NULL,
            outcome text, milliseconds double precision NOT NULL, bytes bigint, at double precision NOT NULL)
        """,
        "CREATE INDEX IF NOT EXISTS durations_by_step ON \(schema).durations (step, at)",
        "CREATE INDEX IF NOT EXISTS durations_by_database ON \(schema).durations (database_name, step, at)",
        "CREATE INDEX IF NOT EXISTS durations_by_changeover ON \(schema).durations (changeover)",
        """
        CREATE TABLE IF NOT EXISTS \(schema).notes (
            changeover text NOT NULL, kind text NOT NULL, text text NOT NULL, at double precision NOT NULL,
            PRIMARY KEY (changeover, kind))
        """,
        // The last lease of each database. `token` counts claims: the fencing token.
        """
        CREATE TABLE IF NOT EXISTS \(schema).leases (
            database_name text PRIMARY KEY, changeover text NOT NULL DEFAULT '', holder text NOT NULL DEFAULT '',
            token bigint NOT NULL DEFAULT 0, daemon boolean NOT NULL DEFAULT false, released boolean NOT NULL DEFAULT true,
            claimed_at timestamptz, renewed_at timestamptz, expires_at timestamptz NOT NULL DEFAULT '-infinity')
        """,
        // A campaign's progress as JSON, and apart from it the operator's latest word.
        """
        CREATE TABLE IF NOT EXISTS \(schema).campaigns (
            id text PRIMARY KEY, created_at double precision NOT NULL, campaign text NOT NULL, control text NOT NULL)
        """,
    ]

    public var isShared: Bool { true }

    // MARK: changeovers

    static let upsertChangeover = """
        INSERT INTO \(schema).changeovers (id, database_name, step, started_at, updated_at, record)
        SELECT $1, $2, $3, $4::float8, $5::float8, $6 %@
        ON CONFLICT (id) DO UPDATE SET database_name = excluded.database_name, step = excluded.step,
            started_at = excluded.started_at, updated_at = excluded.updated_at, record = excluded.record
        """

    private static func changeoverParameters(_ record: ChangeoverRecord) throws -> [String?] {
        [
            record.id, record.database, record.machine.step.rawValue, String(record.startedAt.timeIntervalSince1970),
            String(record.updatedAt.timeIntervalSince1970), try SQLiteStateStorage.encode(record),
        ]
    }

    /// Every commit waits for the server's WAL flush (its `synchronous_commit`): a record that
    /// is not `durable` costs the same, and survives the controller being killed all the same.
    public func save(_ records: [ChangeoverRecord]) throws {
        for record in records { try save(record, durable: true) }
    }

    public func save(_ record: ChangeoverRecord, durable: Bool) throws {
        let parameters = try Self.changeoverParameters(record)
        try blocking { session in
            _ = try session.query(Self.upsertChangeover.replacingOccurrences(of: "%@", with: ""), parameters)
        }
    }

    /// The record is written only if the lease row still has the token, unreleased and unexpired.
    /// `FOR SHARE` on that row: a claim that has locked it first makes this wait and then fail; a
    /// claim that comes after skips the row (`SKIP LOCKED`) until this commits.
    public func save(_ record: ChangeoverRecord, durable: Bool, fencedBy lease: Lease) throws {
        let parameters = try Self.changeoverParameters(record) + [lease.database, String(lease.token)]
        let fence = """
            WHERE EXISTS (SELECT 1 FROM \(Self.schema).leases WHERE database_name = $7 AND token = $8::int8 AND NOT released
                          AND expires_at > clock_timestamp() FOR SHARE)
            """
        let result = try blocking { session in
            try session.query(Self.upsertChangeover.replacingOccurrences(of: "%@", with: fence), parameters)
        }
        guard result.affectedRows == 1 else {
            throw LeaseLost(
                database: lease.database, token: lease.token,
                reason: "the store refused a write under it (expired or taken over)")
        }
    }

    public func changeover(_ id: String) throws -> ChangeoverRecord? {
        let result = try blocking { session in
            try session.query("SELECT record FROM \(Self.schema).changeovers WHERE id = $1", [id])
        }
        return try result.rows.first.flatMap { $0[0] }.map {
            try decode(ChangeoverRecord.self, $0, what: "changeover \(id)")
        }
    }

    public func changeovers() throws -> [ChangeoverRecord] {
        let result = try blocking { session in
            try session.query("SELECT id, record FROM \(Self.schema).changeovers ORDER BY started_at DESC, id DESC")
        }
        return try result.rows.map { try decode(ChangeoverRecord.self, $0[1] ?? "", what: "changeover \($0[0] ?? "")") }
    }

    public func changeoverStamps() throws -> [ChangeoverStamp] {
        let result = try blocking { session in
            try session.query("SELECT id, updated_at FROM \(Self.schema).changeovers ORDER BY started_at DESC, id DESC")
        }
        return try result.rows.map { try Self.stamp($0[0], $0[1]) }
    }

    public func changeovers(ids: [String]) throws -> [(stamp: ChangeoverStamp, record: ChangeoverRecord)] {
        var found: [(stamp: ChangeoverStamp, record: ChangeoverRecord)] = []
        for start in stride(from: 0, to: ids.count, by: ChangeoverStamp.batch) {
            let batch = Array(ids[start..<min(start + ChangeoverStamp.batch, ids.count)])
            let placeholders = batch.indices.map { "$\($0 + 1)" }.joined(separator: ", ")
            let result = try blocking { session in
                try session.query(
                    "SELECT id, updated_at, record FROM \(Self.schema).changeovers WHERE id IN (\(placeholders))",
                    batch.map(Optional.some))
            }
            for row in result.rows {
                found.append(
                    (
                        try Self.stamp(row[0], row[1]),
                        try decode(ChangeoverRecord.self, row[2] ?? "", what: "changeover \(row[0] ?? "")")
                    ))
            }
        }
        return found
    }

    /// A row's id and `updated_at`: Postgres prints a double precision exactly (the shortest
    /// text that reads back as the same number), so it compares equal to what was written.
    private static func stamp(_ id: String?, _ updatedAt: String?) throws -> ChangeoverStamp {
        guard let id, let updatedAt = updatedAt.flatMap(Double.init) else {
            throw StoreError("the state store's changeovers table holds a row without an id or a time")
        }
        return ChangeoverStamp(id: id, updatedAt: updatedAt)
    }

    public func changeovers(database: String) throws -> [ChangeoverRecord] {
        let result = try blocking { session in
            try session.query(
                "SELECT id, record FROM \(Self.schema).changeovers WHERE database_name = $1 ORDER BY started_at DESC, id DESC",
                [database])
        }
        return try result.rows.map { try decode(ChangeoverRecord.self, $0[1] ?? "", what: "changeover \($0[0] ?? "")") }
    }

    // MARK: campaigns

    public func save(_ campaign: Campaign) throws {
        let parameters = [
            campaign.id, String(campaign.createdAt.timeIntervalSince1970), try SQLiteStateStorage.encode(campaign),
            try SQLiteStateStorage.encode(campaign.control),
        ]
        try blocking { session in
            _ = try session.query(
                """
                INSERT INTO \(Self.schema).campaigns (id, created_at, campaign, control) VALUES ($1, $2::float8, $3, $4)
                ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign
                """, parameters)
        }
    }

    /// Written only if the lease row still has the token, unreleased and unexpired, as a
    /// changeover's fenced save (`FOR SHARE` on that row).
    public func save(_ campaign: Campaign, fencedBy lease: Lease) throws {
        let parameters = [
            campaign.id, String(campaign.createdAt.timeIntervalSince1970), try SQLiteStateStorage.encode(campaign),
            try SQLiteStateStorage.encode(campaign.control), lease.database, String(lease.token),
        ]
        let result = try blocking { session in
            try session.query(
                """
                INSERT INTO \(Self.schema).campaigns (id, created_at, campaign, control)
                SELECT $1, $2::float8, $3, $4
                WHERE EXISTS (SELECT 1 FROM \(Self.schema).leases WHERE database_name = $5 AND token = $6::int8 AND NOT released
                              AND expires_at > clock_timestamp() FOR SHARE)
                ON CONFLICT (id) DO UPDATE SET campaign = excluded.campaign
                """, parameters)
        }
        guard result.affectedRows == 1 else {
            throw LeaseLost(
                database: lease.database, token: lease.token,
                reason: "the store refused a write under it (expired or taken over)")
        }
    }

    public func setControl(_ control: Campaign.Control, of campaign: String) throws -> Bool {
        let json = try SQLiteStateStorage.encode(control)
        let result = try blocking { session in
            try session.query("UPDATE \(Self.schema).campaigns SET control = $1 WHERE id = $2", [json, campaign])
        }
        return result.affectedRows == 1
    }

    public func campaign(_ id: String) throws -> Campaign? {
        let result = try blocking { session in
            try session.query("SELECT id, campaign, control FROM \(Self.schema).campaigns WHERE id = $1", [id])
        }
        return try result.rows.first.map(campaign)
    }

    public func campaigns() throws -> [Campaign] {
        let result = try blocking { session in
            try session.query(
                "SELECT id, campaign, control FROM \(Self.schema).campaigns ORDER BY created_at DESC, id DESC")
        }
        return try result.rows.map(campaign)
    }

    private func campaign(_ row: [String?]) throws -> Campaign {
        let id = row[0] ?? ""
        var campaign = try decode(Campaign.self, row[1] ?? "", what: "campaign \(id)")
        campaign.control = try decode(Campaign.Control.self, row[2] ?? "", what: "campaign \(id)")
        return campaign
    }

    // MARK: durations

    public func finish(_ record: ChangeoverRecord, durations: [DurationSample]) throws {
        let parameters = try Self.changeoverParameters(record)
        try blocking { session in
            _ = try session.query("BEGIN")
            _ = try session.query(Self.upsertChangeover.replacingOccurrences(of: "%@", with: ""), parameters)
            _ = try session.query("DELETE FROM \(Self.schema).durations WHERE changeover = $1", [record.id])
            for sample in durations {
                _ = try session.query(
                    """
                    INSERT INTO \(Self.schema).durations (changeover, database_name, engine, step, outcome, milliseconds, bytes, at)
                    VALUES ($1, $2, $3, $4, $5, $6::float8, $7::int8, $8::float8)
                    """,
                    [
                        sample.changeover, sample.database, sample.engine, sample.step, sample.outcome,
                        String(sample.milliseconds),
                        sample.bytes.map(String.init), String(sample.at.timeIntervalSince1970),
                    ])
            }
            _ = try session.query("COMMIT")
        }
    }

    public func durations(database: String?, step: String, limit: Int) throws -> [DurationSample] {
        let columns = "changeover, database_name, engine, step, outcome, milliseconds, bytes, at"
        let result = try blocking { session in
            if let database {
                try session.query(
                    """
                    SELECT \(columns) FROM \(Self.schema).durations WHERE database_name = $1 AND step = $2
                    ORDER BY at DESC, seq DESC LIMIT $3::int
                    """, [database, step, String(limit)])
            } else {
                try session.query(
                    "SELECT \(columns) FROM \(Self.schema).durations WHERE step = $1 ORDER BY at DESC, seq DESC LIMIT $2::int",
                    [step, String(limit)])
            }
        }
        return result.rows.map { row in
            DurationSample(
                changeover: row[0] ?? "", database: row[1] ?? "", engine: row[2], step: row[3] ?? "", outcome: row[4],
                milliseconds: Double(row[5] ?? "") ?? 0, bytes: row[6].flatMap { Int64($0) },
                at: Date(timeIntervalSince1970: Double(row[7] ?? "") ?? 0))
        }
    }

    // MARK: databases

    public func save(_ state: DatabaseState) throws {
        let json = try SQLiteStateStorage.encode(state)
        try blocking { session in
            _ = try session.query(
                """
                INSERT INTO \(Self.schema).databases (name, image, changeover, changed_at, state) VALUES ($1, $2, $3, $4::float8, $5)
                ON CONFLICT (name) DO UPDATE SET image = excluded.image, changeover = excluded.changeover,
                    changed_at = excluded.changed_at, state = excluded.state
                """,
                [state.database, state.image, state.changeover, String(state.changedAt.timeIntervalSince1970), json])
        }
    }

    public func database(_ name: String) throws -> DatabaseState? {
        let result = try blocking { session in
            try session.query("SELECT state FROM \(Self.schema).databases WHERE name = $1", [name])
        }
        return try result.rows.first.flatMap { $0[0] }.map {
            try decode(DatabaseState.self, $0, what: "database \(name)")
        }
    }

    public func databases() throws -> [DatabaseState] {
        let result = try blocking { session in
            try session.query("SELECT name, state FROM \(Self.schema).databases ORDER BY name", [])
        }
        return try result.rows.map { row in
            try decode(DatabaseState.self, row[1] ?? "", what: "database \(row[0] ?? "")")
        }
    }

    // MARK: notes

    public func save(_ note: ChangeoverNote) throws {
        try blocking { session in
            _ = try session.query(
                """
                INSERT INTO \(Self.schema).notes (changeover, kind, text, at) VALUES ($1, $2, $3, $4::float8)
                ON CONFLICT (changeover, kind) DO UPDATE SET text = excluded.text, at = excluded.at
                """, [note.changeover, note.kind.rawValue, note.text, String(note.at.timeIntervalSince1970)])
        }
    }

    public func note(_ kind: ChangeoverNote.Kind, of changeover: String) throws -> ChangeoverNote? {
        let result = try blocking { session in
            try session.query(
                "SELECT text, at FROM \(Self.schema).notes WHERE changeover = $1 AND kind = $2",
                [changeover, kind.rawValue])
        }
        return result.rows.first.map {
            ChangeoverNote(
                changeover: changeover, kind: kind, text: $0[0] ?? "",
                at: Date(timeIntervalSince1970: Double($0[1] ?? "") ?? 0))
        }
    }

    // MARK: leases

    public func claim(database: String, changeover: String, holder: String, ttl: Duration, daemon: Bool) async throws
        -> Lease?
    {
        _ = try await query(
            "INSERT INTO \(Self.schema).leases (database_name) VALUES ($1) ON CONFLICT DO NOTHING", [database])
        let result = try await query(
            """
            UPDATE \(Self.schema).leases AS l SET changeover = $2, holder = $3, daemon = $5::bool, released = false,
                token = l.token + 1, claimed_at = clock_timestamp(), renewed_at = clock_timestamp(),
                expires_at = clock_timestamp() + make_interval(secs => $4::float8)
            FROM (SELECT database_name FROM \(Self.schema).leases
                  WHERE database_name = $1 AND (released OR expires_at <= clock_timestamp())
                  FOR UPDATE SKIP LOCKED) AS free
            WHERE l.database_name = free.database_name
            RETURNING l.token, extract(epoch FROM l.expires_at)
            """, [database, changeover, holder, String(ttl.seconds), daemon ? "true" : "false"])
        guard let row = result.rows.first, let token = row[0].flatMap({ Int64($0) }),
            let expires = row[1].flatMap({ Double($0) })
        else { return nil }
        return Lease(
            database: database, changeover: changeover, holder: holder, token: token,
            expiresAt: Date(timeIntervalSince1970: expires), daemon: daemon)
    }

    public func renew(_ lease: Lease, ttl: Duration) async throws -> Lease? {
        let result = try await query(
            """
            UPDATE \(Self.schema).leases SET renewed_at = clock_timestamp(),
                expires_at = clock_timestamp() + make_interval(secs => $3::float8)
            WHERE database_name = $1 AND token = $2::int8 AND NOT released AND expires_at > clock_timestamp()
            RETURNING extract(epoch FROM expires_at)
            """, [lease.database, String(lease.token), String(ttl.seconds)])
        guard let expires = result.rows.first?[0].flatMap({ Double($0) }) else { return nil }
        var renewed = lease
        renewed.expiresAt = Date(timeIntervalSince1970: expires)
        return renewed
    }

    public func release(_ lease: Lease) async throws {
        _ = try await query(
            """
            UPDATE \(Self.schema).leases SET released = true, renewed_at = clock_timestamp()
            WHERE database_name = $1 AND token = $2::int8
            """, [lease.database, String(lease.token)])
    }

    public func lease(of database: String) async throws -> LeaseState? {
        let result = try await query(
            """
            SELECT changeover, holder, token, extract(epoch FROM expires_at), daemon, released, expires_at <= clock_timestamp()
            FROM \(Self.schema).leases WHERE database_name = $1 AND claimed_at IS NOT NULL
            """, [database])
        guard let row = result.rows.first else { return nil }
        let expires = Double(row[3] ?? "") ?? 0
        let lease = Lease(
            database: database, changeover: row[0] ?? "", holder: row[1] ?? "", token: Int64(row[2] ?? "") ?? 0,
            expiresAt: expires.isFinite ? Date(timeIntervalSince1970: expires) : .distantPast, daemon: row[4] == "t")
        return LeaseState(lease: lease, released: row[5] == "t", expired: row[6] == "t")
    }

    // MARK: the connection, errors

    /// The open connection, or a new one.
    private func current() throws -> PostgresConnection {
        if let open = connection.withLock({ $0 }), open.isOpen { return open }
        let made: PostgresConnection
        do {
            made = try PostgresConnection.connectBlocking(conninfo, timeout: Self.deadline)
        } catch {
            throw storeError(error)
        }
        return connection.withLock { slot in
            if let other = slot, other.isOpen {
                made.close()
                return other
            }
            slot = made
            return made
        }
    }

    private func currentAsync() async throws -> PostgresConnection {
        if let open = connection.withLock({ $0 }), open.isOpen { return open }
        let made: PostgresConnection
        do {
            made = try await PostgresConnection.connect(conninfo, timeout: Self.deadline)
        } catch {
            throw storeError(error)
        }
        return connection.withLock { slot in
            if let other = slot, other.isOpen {
                made.close()
                return other
            }
            slot = made
            return made
        }
    }

    /// Runs `body` on the connection's queue; a transaction left open by a failure is rolled back.
    func blocking<T>(_ body: (BlockingSession) throws -> T) throws -> T {
        let connection = try current()
        do {
            return try connection.blocking(timeout: Self.deadline) { session in
                do {
                    return try body(session)
                } catch {
                    _ = try? session.query("ROLLBACK")
                    throw error
                }
            }
        } catch let lost as LeaseLost {
            throw lost
        } catch {
            throw storeError(error)
        }
    }

    private func query(_ sql: String, _ parameters: [String?]) async throws -> PostgresResult {
        let connection = try await currentAsync()
        do {
            return try await connection.query(sql, parameters, timeout: Self.deadline)
        } catch {
            throw storeError(error)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ json: String, what: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: Data(json.utf8))
        } catch {
            throw StoreError("\(what) in the state store \(endpoint) is unreadable: \(StoreError.oneLine(error))")
        }
    }

    /// The one place this store's errors become `StoreError`s: one line naming the server, never
    /// the password (`PostgresError` never holds it).
    func storeError(_ error: any Error) -> StoreError {
        if let error = error as? StoreError { return error }
        if let error = error as? PostgresError {
            return StoreError(
                "cannot use the state store \(endpoint): \(error.message.split(whereSeparator: \.isNewline).joined(separator: " "))"
                    + (error.sqlState.map { " (SQLSTATE \($0))" } ?? ""))
        }
        return StoreError("cannot use the state store \(endpoint): \(StoreError.oneLine(error))")
    }
}

extension PostgresStateStorage {
    private static let opened = Mutex<[String: PostgresStateStorage]>([:])

    /// The process's store for `conninfo`, connected (and its schema made) on first use.
    static func shared(conninfo: ConnInfo, password: Secret?, environment: [String: String]) throws
        -> PostgresStateStorage
    {
        let key = conninfo.description
        if let open = opened.withLock({ $0[key] }) { return open }
        let storage = try PostgresStateStorage(
            conninfo: conninfo, password: try password?.value(environment: environment))
        return opened.withLock { opened in
            if let other = opened[key] { return other }
            opened[key] = storage
            return storage
        }
    }
}
