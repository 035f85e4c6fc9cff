import ChangeoverCore
import Foundation
import PostgresClient
import Synchronization
import Testing

/// A real PostgreSQL 15 server on a free loopback port, in its own temp dir, run as the
/// `postgres` user in the foreground as our child. `stop()` ends it and removes the dir.
///
/// pg_hba: the superuser `postgres` is trusted on the socket and on 127.0.0.1; everyone else
/// (the role `app`, with `appPassword`) needs scram-sha-256, for queries and replication.
final class TestPostgresServer: Sendable {
    static let binDirectory = "/usr/lib/postgresql/15/bin"
    static let appPassword = #"pw'app\secret 42"#

    /// The server of the surrounding suite (see `PostgresServerTrait`).
    @TaskLocal static var shared: TestPostgresServer?

    let directory: String
    let port: Int
    private let server: Mutex<Process?>

    var superuser: ConnInfo {
        ConnInfo(parameters: [
            .init(key: "host", value: "127.0.0.1"), .init(key: "port", value: "\(port)"),
            .init(key: "user", value: "postgres"), .init(key: "dbname", value: "postgres"),
        ])
    }

    var app: ConnInfo {
        superuser.with("user", "app").with("password", Self.appPassword)
    }

    private init(directory: String, port: Int, server: Process) {
        self.directory = directory
        self.port = port
        self.server = Mutex(server)
    }

    /// initdb, start, wait until it accepts connections, create the `app` role.
    static func start() async throws -> TestPostgresServer {
        var template = Array("/tmp/pgc-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SetupError("mkdtemp failed") }
        let directory = String(cString: made)
        var server: TestPostgresServer?
        do {
            guard let user = getpwnam("postgres") else { throw SetupError("no postgres user") }
            guard chown(directory, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                throw SetupError("chown failed")
            }
            let data = directory + "/data"
            let initdb = try spawn(
                ["\(binDirectory)/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
                log: directory + "/initdb.log")
            initdb.waitUntilExit()
            guard initdb.terminationStatus == 0 else { throw SetupError("initdb failed, see \(directory)/initdb.log") }
            try """
            local all all trust
            host all postgres 127.0.0.1/32 trust
            host replication postgres 127.0.0.1/32 trust
            host all all 127.0.0.1/32 scram-sha-256
            host replication all 127.0.0.1/32 scram-sha-256

            """.write(toFile: data + "/pg_hba.conf", atomically: false, encoding: .utf8)

            let port = try freePort()
            let process = try spawn(
                [
                    "\(binDirectory)/postgres", "-D", data, "-p", "\(port)", "-k", directory,
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
                ],
                log: directory + "/postgres.log")
            server = TestPostgresServer(directory: directory, port: port, server: process)
            let admin = try await server!.waitUntilReady()
            defer { admin.close() }
            let password = appPassword.replacingOccurrences(of: "'", with: "''")
            _ = try await admin.query("CREATE ROLE app LOGIN REPLICATION PASSWORD '\(password)'", timeout: .seconds(5))
            return server!
        } catch {
            if let server {
                server.stop()
            } else {
                try? FileManager.default.removeItem(atPath: directory)
            }
            throw error
        }
    }

    /// Fast shutdown (SIGINT), wait for the exit, remove the directory. Idempotent.
    func stop() {
        guard let process = server.withLock({ $0.take() }) else { return }
        if process.isRunning {
            process.interrupt()
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning, ContinuousClock.now < deadline {
            usleep(10_000)
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func waitUntilReady() async throws -> PostgresConnection {
        // Generous: the whole suite starts many servers at once on 2 cores.
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                return try await PostgresConnection.connect(superuser, timeout: .seconds(1))
            } catch {
                guard ContinuousClock.now < deadline, server.withLock({ $0?.isRunning == true }) else {
                    let log = (try? String(contentsOfFile: "\(directory)/postgres.log", encoding: .utf8)) ?? ""
                    let last = log.split(separator: "\n").suffix(3).joined(separator: " | ")
                    throw SetupError("postgres did not start: \(error); its log ends: \(last)")
                }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Runs `arguments` as the postgres user (setpriv execs, so the PID is the tool's own).
    private static func spawn(_ arguments: [String], log: String) throws -> Process {
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=postgres", "--regid=postgres", "--init-groups"] + arguments
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? output.close()
        return process
    }
}

/// A loopback port to listen on (see `FreePort.next`: outside the ephemeral range, never
/// handed out twice in this process).
func freePort() throws -> Int { FreePort.next() }

struct SetupError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Starts one `TestPostgresServer` around a whole suite and stops it afterwards, also when a
/// test fails or throws.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await TestPostgresServer.start()
        defer { server.stop() }
        try await TestPostgresServer.$shared.withValue(server) {
            try await function()
        }
    }
}

extension Trait where Self == PostgresServerTrait {
    static var runningPostgres: Self { Self() }
}
