import Foundation
import PostgresClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Clients wait instead of failing: over PgBouncer's admin console, `PAUSE db` before the fence
/// (PgBouncer lets running transactions finish, releases its server connections and queues new
/// work), then the database's line in a `%include`d file is rewritten to the new primary,
/// `RELOAD`, and `RESUME db` sends the queued work to the new primary.
///
/// The admin console speaks only the simple query protocol, so every command goes through
/// `simpleQuery`. Every command has the router's deadline. `resume` is safe when nothing is
/// paused, so a rollback before the promotion leaves the pool running on the old primary.
/// The admin connection opened by `pause` is kept for `repoint` and `resume`, so no login
/// handshake lengthens the clients' wait.
public struct PgBouncerRouter: Router {
    /// The admin console's conninfo, password included when one is configured. Never printed.
    public var admin: ConnInfo
    /// The database's name in pgbouncer's `[databases]`; the changeover's database name when nil.
    public var pgbouncerDatabase: String?
    /// The file that holds the database's `[databases]` line; pgbouncer.ini `%include`s it.
    public var includeFile: String
    /// The deadline of one admin command (PAUSE waits for running transactions).
    public var timeout: Duration
    private let session = AdminSession()

    public init(admin: ConnInfo, password: String?, database: String?, includeFile: String, timeout: Duration) {
        var admin = admin.with("dbname", admin.database ?? "pgbouncer")
        if let password { admin["password"] = password }
        self.admin = admin
        self.pgbouncerDatabase = database
        self.includeFile = includeFile
        self.timeout = timeout
    }

    func name(_ database: String) -> String { pgbouncerDatabase ?? database }

    public func pause(database: String) async throws {
        let name = name(database)
        // Fail before the fence if the repoint could not work: the line must be there to rewrite.
        _ = try PgBouncerDatabasesFile(path: includeFile).line(for: name)
        do {
            try await withAdmin { connection in
                _ = try await connection.simpleQuery("PAUSE \(Self.quoted(name))", timeout: timeout)
            }
        } catch let error as PostgresError where error.code == .timeout {
            throw RouterError(
                description:
                    "pgbouncer did not pause \(name) within \(timeout.seconds) s (a transaction still running?)")
        } catch let error as PostgresError {
            throw RouterError(description: "pgbouncer refused PAUSE \(name): \(error.message)")
        }
    }

    /// The databases file has the line and can be written; the admin console answers and
    /// sends the database to the primary.
    public func check(database: String, primary: Endpoint) async -> PreflightCheck {
        let name = name(database)
        do {
            _ = try PgBouncerDatabasesFile(path: includeFile).line(for: name)
        } catch {
            return PreflightCheck("router", passed: false, error.description)
        }
        guard access(includeFile, W_OK) == 0 else {
            return PreflightCheck("router", passed: false, "pgbouncer's databases file \(includeFile) is not writable")
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(admin, timeout: timeout)
        } catch {
            return PreflightCheck(
                "router", passed: false,
                "cannot reach pgbouncer's admin console at \(admin.endpoint) as \(admin.user ?? "the default user"): \(error.message)"
            )
        }
        defer { connection.close() }
        do {
            guard let shown = try await connection.simpleQuery("SHOW DATABASES", timeout: timeout).last,
                let row = shown.rows.indices.first(where: { shown.value($0, "name") == name })
            else {
                return PreflightCheck(
                    "router", passed: false,
                    "pgbouncer has no database \(name); does pgbouncer.ini %include \(includeFile)?")
            }
            let host = shown.value(row, "host") ?? ""
            let port = shown.value(row, "port") ?? ""
            guard host == primary.host, port == String(primary.port) else {
                return PreflightCheck(
                    "router", passed: false, "pgbouncer sends \(name) to \(host):\(port), not to the primary \(primary)"
                )
            }
            return PreflightCheck(
                "router", passed: true, "pgbouncer: \(name) goes to \(primary); \(includeFile) will be rewritten")
        } catch {
            return PreflightCheck("router", passed: false, "pgbouncer's SHOW DATABASES failed: \(error.message)")
        }
    }

    public func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws {
        let name = name(database)
        var file = try PgBouncerDatabasesFile(path: includeFile)
        try file.point(name, host: endpoint.host, port: endpoint.port)
        try file.write()
        try await withAdmin { connection in
            do {
                _ = try await connection.simpleQuery("RELOAD", timeout: timeout)
            } catch let error as PostgresError {
                throw RouterError(description: "pgbouncer refused RELOAD: \(error.message)")
            }
            // RELOAD succeeds even when pgbouncer.ini does not include the file: check what it now uses.
            guard let shown = try await connection.simpleQuery("SHOW DATABASES", timeout: timeout).last,
                let row = shown.rows.indices.first(where: { shown.value($0, "name") == name })
            else { throw RouterError(description: "pgbouncer has no database \(name) after RELOAD") }
            let host = shown.value(row, "host") ?? ""
            let port = shown.value(row, "port") ?? ""
            guard host == endpoint.host, port == String(endpoint.port) else {
                throw RouterError(
                    description:
                        "after RELOAD pgbouncer still sends \(name) to \(host):\(port), not \(endpoint); does pgbouncer.ini %include \(includeFile)?"
                )
            }
        }
    }

    public func resume(database: String) async throws {
        let name = name(database)
        do {
            try await withAdmin { connection in
                _ = try await connection.simpleQuery("RESUME \(Self.quoted(name))", timeout: timeout)
            }
        } catch let error as PostgresError where error.message.contains("is not paused") {
            return  // resume is idempotent: nothing was paused, or a resume already ran
        } catch let error as PostgresError {
            throw RouterError(description: "pgbouncer refused RESUME \(name): \(error.message)")
        }
    }

    /// Runs `body` on the kept admin console connection, or a new one. A kept connection that
    /// turns out to be lost is replaced once (every command here may be repeated safely).
    private func withAdmin(_ body: (PostgresConnection) async throws -> Void) async throws {
        if let kept = session.take() {
            do {
                try await body(kept)
                session.keep(kept)
                return
            } catch let error as PostgresError where error.code == .connectionClosed || error.code == .connectionFailed
            {
                kept.close()
            } catch {
                kept.close()
                throw error
            }
        }
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(admin, timeout: timeout)
        } catch {
            throw RouterError(
                description:
                    "cannot reach pgbouncer's admin console at \(admin.endpoint) as \(admin.user ?? "the default user"): \(error.message)",
                transient: error.code != .authenticationFailed)
        }
        do {
            try await body(connection)
            session.keep(connection)
        } catch {
            connection.close()
            throw error
        }
    }

    /// The admin console connection kept between commands; one user at a time takes it.
    private final class AdminSession: Sendable {
        private let connection = Mutex<PostgresConnection?>(nil)

        func take() -> PostgresConnection? {
            connection.withLock { kept in
                defer { kept = nil }
                return kept?.isOpen == true ? kept : nil
            }
        }

        func keep(_ connection: PostgresConnection) {
            self.connection.withLock { kept in
                if let kept, kept !== connection { kept.close() }
                kept = connection
            }
        }

        deinit {
            connection.withLock { $0?.close() }
        }
    }

    /// A database name as the admin console's parser takes it: double-quoted, quotes doubled.
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// A pgbouncer config file holding `[databases]` lines (`name = key=value …`), rewritten one line
/// at a time: the other lines and the line's other keys stay as they are.
struct PgBouncerDatabasesFile {
    let path: String
    private(set) var lines: [String]

    init(path: String) throws(RouterError) {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8)
        else {
            throw RouterError(description: "cannot read pgbouncer's databases file \(path)")
        }
        self.init(path: path, text: text)
    }

    init(path: String, text: String) {
        self.path = path
        lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    }

    var text: String { lines.joined(separator: "\n") }

    /// The index of `name`'s line in the `[databases]` section.
    func line(for name: String) throws(RouterError) -> Int {
        var section = "databases"  // an included file may start without a section header
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("[") {
                section = trimmed.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).lowercased()
                continue
            }
            guard section == "databases", !trimmed.hasPrefix(";"), !trimmed.hasPrefix("#"),
                let equals = trimmed.firstIndex(of: "=")
            else { continue }
            var key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            if key.count >= 2, key.hasPrefix("\""), key.hasSuffix("\"") { key = String(key.dropFirst().dropLast()) }
            if key == name { return index }
        }
        throw RouterError(description: "pgbouncer's databases file \(path) has no line for \(name)")
    }

    /// Points `name` at `host:port`, keeping its other keys (dbname, user, pool_size…) as written.
    mutating func point(_ name: String, host: String, port: Int) throws(RouterError) {
        let index = try line(for: name)
        let line = lines[index]
        let equals = line.firstIndex(of: "=")!
        let head = line[..<equals].trimmingCharacters(in: .whitespaces)
        var pairs = Self.pairs(String(line[line.index(after: equals)...]))
        var replaced: Set<String> = []
        for (position, pair) in pairs.enumerated() {
            switch pair.key {
            case "host":
                pairs[position].raw = "host=\(host)"
                replaced.insert("host")
            case "port":
                pairs[position].raw = "port=\(port)"
                replaced.insert("port")
            default:
                break
            }
        }
        var raws = pairs.map(\.raw)
        if !replaced.contains("port") { raws.insert("port=\(port)", at: 0) }
        if !replaced.contains("host") { raws.insert("host=\(host)", at: 0) }
        lines[index] = "\(head) = \(raws.joined(separator: " "))"
    }

    /// Splits `key=value key='quoted value' …` into pairs, each kept verbatim.
    static func pairs(_ text: String) -> [(key: String, raw: String)] {
        var result: [(key: String, raw: String)] = []
        var current = ""
        var quoted = false
        var escaped = false
        for character in text {
            if escaped {
                escaped = false
                current.append(character)
                continue
            }
            if character == "\\" && quoted {
                escaped = true
                current.append(character)
                continue
            }
            if character == "'" { quoted.toggle() }
            if character.isWhitespace && !quoted {
                if !current.isEmpty { result.append(Self.pair(current)) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { result.append(Self.pair(current)) }
        return result
    }

    private static func pair(_ raw: String) -> (key: String, raw: String) {
        let key = raw.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? raw
        return (key.lowercased(), raw)
    }

    /// Replaces the file atomically: a temporary file beside it with the same owner and mode
    /// (pgbouncer may run as another user), fsynced, then renamed over it.
    func write() throws(RouterError) {
        let temporary = "\(path).changeover-\(getpid())"
        var info = stat()
        let existing = stat(path, &info) == 0
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, existing ? info.st_mode & 0o7777 : 0o644)
        guard fd >= 0 else {
            throw RouterError(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        var bytes = Array(text.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { writeBytes(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                unlink(temporary)
                throw RouterError(description: "cannot write \(temporary): \(String(cString: strerror(errno)))")
            }
            written += n
        }
        if existing {
            _ = fchown(fd, info.st_uid, info.st_gid)
            _ = fchmod(fd, info.st_mode & 0o7777)
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard synced, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw RouterError(description: "cannot replace \(path): \(reason)")
        }
    }
}

private func writeBytes(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
