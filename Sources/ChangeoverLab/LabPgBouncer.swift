import ChangeoverCore
import Foundation
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// A real PgBouncer in front of a lab primary, run as the lab's server user (pgbouncer refuses
/// root) in the foreground, its files under `<lab root>/pgbouncer`: transaction pooling, SCRAM
/// logins checked against an auth_file of plain-text passwords (which also lets pgbouncer log in
/// to the server with SCRAM), and the database's line in a `%include`d file that the pgbouncer
/// router rewrites. Stop it with `stop()`; the lab's `shutdown()` does not know about it.
public final class LabPgBouncer: Sendable {
    public let directory: String
    public let port: Int
    public let pid: pid_t
    /// The pgbouncer database clients use; it maps to `dbname=postgres` on the primary.
    public let database: String
    public let includeFile: String
    public let adminUser = "pgbouncer"
    public let adminPassword: String
    public let logFile: String

    private init(directory: String, port: Int, pid: pid_t, database: String, adminPassword: String) {
        self.directory = directory
        self.port = port
        self.pid = pid
        self.database = database
        self.includeFile = "\(directory)/databases.ini"
        self.adminPassword = adminPassword
        self.logFile = "\(directory)/pgbouncer.log"
    }

    /// Starts pgbouncer in front of `server` and waits until it accepts connections.
    public static func start(lab: Lab, inFrontOf front: Lab.Server, database: String) async throws -> LabPgBouncer {
        let directory = "\(lab.root)/pgbouncer"
        try LocalFiles.makeDirectory(directory, owner: lab.runAs, mode: 0o700)
        let port = FreePort.next()
        let adminPassword = "pb-" + UUID().uuidString.prefix(13).lowercased()
        let bouncer = LabPgBouncer(
            directory: directory, port: port, pid: 0, database: database, adminPassword: adminPassword)
        let files = [
            bouncer.includeFile: """
            [databases]
            \(database) = host=127.0.0.1 port=\(front.port) dbname=postgres

            """,
            "\(directory)/userlist.txt": """
            "postgres" "\(lab.superuserPassword)"
            "\(bouncer.adminUser)" "\(adminPassword)"

            """,
            "\(directory)/pgbouncer.ini": """
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir =
            auth_type = scram-sha-256
            auth_file = \(directory)/userlist.txt
            admin_users = \(bouncer.adminUser)
            pool_mode = transaction
            default_pool_size = 10
            server_login_retry = 1
            pidfile =
            logfile =

            %include \(bouncer.includeFile)

            """,
        ]
        for (path, text) in files {
            try text.write(toFile: path, atomically: false, encoding: .utf8)
            chmod(path, 0o600)
            if let user = lab.runAs, getuid() == 0, let pw = getpwnam(user) {
                chown(path, pw.pointee.pw_uid, pw.pointee.pw_gid)
            }
        }
        let pid = try Subprocess.spawn(
            Subprocess.runAsPrefix(lab.runAs) + ["pgbouncer", "\(directory)/pgbouncer.ini"],
            outputPath: bouncer.logFile, newSession: true)
        let started = LabPgBouncer(
            directory: directory, port: port, pid: pid, database: database, adminPassword: adminPassword)
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            if let status = Subprocess.reap(pid) {
                throw LabError("pgbouncer exited during start-up (status \(status)); see \(started.logFile)")
            }
            if let log = try? String(contentsOfFile: started.logFile, encoding: .utf8), log.contains("process up") {
                break
            }
            if ContinuousClock.now >= deadline {
                await started.stop()
                throw LabError("pgbouncer did not start within 20 s; see \(started.logFile)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return started
    }

    /// The admin console, without a password.
    public var adminConnInfo: ConnInfo {
        try! ConnInfo("host=127.0.0.1 port=\(port) user=\(adminUser) dbname=pgbouncer")
    }

    /// What a client of the database uses: pgbouncer's port, the lab's superuser and password.
    public func clientConnInfo(lab: Lab) -> ConnInfo {
        try! ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=\(database) connect_timeout=2")
            .with("password", lab.superuserPassword)
    }

    /// The `router:` lines of a fleet config (indented 6) and the environment they refer to.
    public var routerConfig: (yaml: String, environment: [String: String]) {
        (
            """
                  kind: pgbouncer
                  admin: "\(adminConnInfo.description)"
                  password: {env: LAB_PGBOUNCER_PASSWORD}
                  include: \(includeFile)
                  timeout: 10s
            """, ["LAB_PGBOUNCER_PASSWORD": adminPassword]
        )
    }

    /// `SHOW DATABASES` for the database: where pgbouncer sends it and whether it is paused.
    public func show() async throws -> (host: String, port: Int, paused: Bool) {
        let connection = try await PostgresConnection.connect(
            adminConnInfo.with("password", adminPassword), timeout: .seconds(5))
        defer { connection.close() }
        guard let result = try await connection.simpleQuery("SHOW DATABASES", timeout: .seconds(5)).last,
            let row = result.rows.indices.first(where: { result.value($0, "name") == database })
        else { throw LabError("pgbouncer does not list \(database)") }
        return (
            result.value(row, "host") ?? "", Int(result.value(row, "port") ?? "") ?? 0,
            result.value(row, "paused") == "1"
        )
    }

    /// Stops pgbouncer (SIGTERM: immediate shutdown; SIGKILL after 10 s). Idempotent.
    public func stop() async {
        guard pid > 0 else { return }
        if Subprocess.reap(pid) != nil { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while Subprocess.reap(pid) == nil {
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { try? await Task.sleep(for: .milliseconds(5)) }
                return
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
