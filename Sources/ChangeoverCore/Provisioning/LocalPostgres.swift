import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Operations on a Postgres data directory on this host: start, fence (stop), read control data.
///
/// The server runs in the foreground of a process of its own session, so it outlives the
/// controller and a terminal's signals never reach it. Its state is read from the files Postgres
/// itself keeps: `postmaster.pid` (PID and "ready"/"standby" status, gone after a clean
/// shutdown), `postmaster.opts` (the command line it was started with) and `pg_controldata`.
public struct LocalPostgres: Sendable {
    public var binDirectory: String
    public var dataDirectory: String
    /// The OS user the server runs as when the controller is root.
    public var runAs: String?
    public var environment: [String: String]
    /// The named network namespace the server runs in (nil: this process's), where `restart`
    /// starts it again.
    public var networkNamespace: String?

    public init(
        binDirectory: String, dataDirectory: String, runAs: String? = "postgres", environment: [String: String] = [:],
        networkNamespace: String? = nil
    ) {
        self.binDirectory = binDirectory
        self.dataDirectory = dataDirectory
        self.runAs = runAs
        self.environment = environment
        self.networkNamespace = networkNamespace
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// What `postmaster.pid` says about a running server.
    public struct PidFile: Sendable, Equatable {
        public var pid: pid_t
        public var port: Int?
        public var status: String?
    }

    public var pidFilePath: String { "\(dataDirectory)/postmaster.pid" }

    /// Reads `postmaster.pid`; nil when the server is not running (or shut down cleanly).
    public func pidFile() -> PidFile? {
        guard let text = try? String(contentsOfFile: pidFilePath, encoding: .utf8) else { return nil }
        return Self.parsePidFile(text)
    }

    /// `postmaster.pid`'s lines: PID, data directory, start time, port, socket directory,
    /// listen address, shared memory key, status.
    static func parsePidFile(_ text: String) -> PidFile? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = lines.first, let pid = pid_t(first) else { return nil }
        let port = lines.count > 3 ? Int(lines[3]) : nil
        let status = lines.count > 7 ? lines[7] : nil
        return PidFile(pid: pid, port: port, status: status)
    }

    /// Whether a postmaster is running on this data directory.
    public var isRunning: Bool {
        guard let file = pidFile() else { return false }
        return Subprocess.isAlive(file.pid)
    }

    /// Starts `postgres` with per-node settings on its command line (not in postgresql.conf,
    /// which pg_basebackup copies), then waits until it accepts connections.
    public func start(
        port: Int, socketDirectory: String, settings: [String: String] = [:],
        logFile: String, timeout: Duration
    ) async throws(Failure) -> pid_t {
        let argv =
            Subprocess.runAsPrefix(runAs)
            + commandLine(port: port, socketDirectory: socketDirectory, settings: settings)
        return try await launch(argv, logFile: logFile, timeout: timeout)
    }

    /// The server's command line with these settings (what `start` runs, and a unit's ExecStart).
    public func commandLine(port: Int, socketDirectory: String, settings: [String: String]) -> [String] {
        var argv = ["\(binDirectory)/postgres", "-D", dataDirectory, "-p", String(port), "-k", socketDirectory]
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { argv += ["-c", "\(key)=\(value)"] }
        return argv
    }

    /// Starts the server again with the command line it last ran with (`postmaster.opts`),
    /// which is how a fenced primary is brought back on rollback.
    public func restart(logFile: String, timeout: Duration) async throws(Failure) -> pid_t {
        // A postmaster that died as our child is a zombie until reaped, and Postgres would take
        // its PID in postmaster.pid for a live server.
        if let pid = pidFile()?.pid { _ = Subprocess.reap(pid) }
        let path = "\(dataDirectory)/postmaster.opts"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot restart the server: \(path) is missing")
        }
        var argv = Self.parseOptions(text)
        guard !argv.isEmpty else { throw Failure(description: "cannot restart the server: \(path) is empty") }
        argv[0] = "\(binDirectory)/postgres"
        return try await launch(
            NetworkNamespace.prefix(networkNamespace) + Subprocess.runAsPrefix(runAs) + argv,
            logFile: logFile, timeout: timeout)
    }

    private func launch(_ argv: [String], logFile: String, timeout: Duration) async throws(Failure) -> pid_t {
        let pid: pid_t
        do {
            let fd = open(logFile, O_CREAT | O_WRONLY | O_APPEND, 0o600)
            if fd >= 0 {
                fchmod(fd, 0o666)
                close(fd)
            }
            pid = try Subprocess.spawn(argv, environment: environment, outputPath: logFile, newSession: true)
        } catch {
            throw Failure(description: error.description)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // Checked once more after the deadline: a starved task may wake up only after it.
        while true {
            if let status = Subprocess.reap(pid), status != -1 || !Subprocess.isAlive(pid) {
                throw Failure(description: "postgres exited during start-up (status \(status)); see \(logFile)")
            }
            if let file = pidFile(), file.pid == pid, file.status == "ready" || file.status == "standby" {
                return pid
            }
            guard clock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        kill(pid, SIGQUIT)
        throw Failure(description: "postgres did not accept connections within \(timeout.seconds) s; see \(logFile)")
    }

    /// Fences the server: a fast shutdown (SIGINT to the postmaster: connections are cut,
    /// a shutdown checkpoint is written, the walsenders send everything to connected standbys).
    /// Returns when `postmaster.pid` is gone, watching at millisecond granularity, which is what
    /// keeps the write pause short. Idempotent: a stopped server is already fenced.
    public func stop(timeout: Duration, signal: Int32 = SIGINT) async throws(Failure) {
        guard let file = pidFile(), Subprocess.isAlive(file.pid) else { return }
        guard kill(file.pid, signal) == 0 else {
            throw Failure(description: "cannot signal postgres (pid \(file.pid)): \(String(cString: strerror(errno)))")
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // Checked once more after the deadline: a starved task may wake up only after it.
        while true {
            _ = Subprocess.reap(file.pid)
            if pidFile() == nil || !Subprocess.isAlive(file.pid) {
                _ = Subprocess.reap(file.pid)
                return
            }
            guard clock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(1))
        }
        throw Failure(description: "postgres (pid \(file.pid)) did not stop within \(timeout.seconds) s")
    }

    /// The cluster state and the latest checkpoint location, in `pg_controldata`'s words
    /// ("Database cluster state" → "shut down", "Latest checkpoint location" → "0/3000028").
    ///
    /// Read from `global/pg_control` directly when its layout is known and its CRC checks (the
    /// fence reads it inside the write pause; spawning `pg_controldata` costs 7–16 ms there),
    /// else from `pg_controldata`.
    public func controlData() async throws(Failure) -> [String: String] {
        if let values = ControlFile.read("\(dataDirectory)/global/pg_control") { return values }
        return try await controlDataFromTool()
    }

    /// `pg_controldata` as a dictionary.
    public func controlDataFromTool() async throws(Failure) -> [String: String] {
        let outcome: Subprocess.Outcome
        do {
            outcome = try await Subprocess.run(
                Subprocess.runAsPrefix(runAs) + ["\(binDirectory)/pg_controldata", "-D", dataDirectory],
                environment: ["LC_ALL": "C"].merging(environment) { a, _ in a }, timeout: .seconds(30))
        } catch {
            throw Failure(description: error.description)
        }
        guard outcome.succeeded else {
            throw Failure(description: "pg_controldata failed: \(outcome.lastErrorLine)")
        }
        return Self.parseControlData(outcome.stdout)
    }

    /// `pg_controldata`'s "Name: value" lines as a dictionary.
    static func parseControlData(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            values[line[..<colon].trimmingCharacters(in: .whitespaces)] =
                line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }

    /// Splits `postmaster.opts` (`/path/postgres "-D" "/data" "-p" "5432"`) into arguments.
    static func parseOptions(_ text: String) -> [String] {
        var args: [String] = []
        var current = ""
        var quoted = false
        var inToken = false
        for ch in text.trimmingCharacters(in: .whitespacesAndNewlines) {
            if ch == "\"" {
                quoted.toggle()
                inToken = true
            } else if ch == " " && !quoted {
                if inToken { args.append(current) }
                current = ""
                inToken = false
            } else {
                current.append(ch)
                inToken = true
            }
        }
        if inToken { args.append(current) }
        return args
    }
}
