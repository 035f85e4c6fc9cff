import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A redis-server on this host, in a node directory that holds its config file (it carries
/// passwords, which therefore never appear on a command line), its pid file, its data and its
/// log. The directory is 0700 and `runAs`'s, and the server runs with umask 077: Redis creates
/// the files it writes later (CONFIG REWRITE's redis.conf, dump.rdb on every save, its log) with
/// mode 0644 less its umask, so they stay 0600. It runs in the foreground of a session of its
/// own, so it outlives the controller.
public struct LocalRedis: Sendable {
    public var binDirectory: String
    public var nodeDirectory: String
    /// The OS user the server runs as when the controller is root (nil: the controller's own).
    public var runAs: String?
    public var environment: [String: String]

    /// Where its files are: in the node directory unless a layout (`DebianRedis`) puts them elsewhere.
    public var configPath: String
    public var pidFilePath: String
    public var logPath: String
    /// Its `dir`: where it saves its data.
    public var dataDirectory: String
    /// Directives of its layout, written after the base configuration (`dbfilename`, `unixsocket`).
    public var ownSettings: [(String, String)] = []
    /// A directory made for its pid file (0755, `runAs`'s), as systemd's `RuntimeDirectory=` would.
    public var runtimeDirectory: String?

    public init(binDirectory: String, nodeDirectory: String, runAs: String? = nil, environment: [String: String] = [:])
    {
        self.binDirectory = binDirectory
        self.nodeDirectory = nodeDirectory
        self.runAs = runAs
        self.environment = environment
        configPath = "\(nodeDirectory)/redis.conf"
        pidFilePath = "\(nodeDirectory)/redis.pid"
        logPath = "\(nodeDirectory)/redis.log"
        dataDirectory = nodeDirectory
    }

    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public var pid: pid_t? {
        guard let text = try? String(contentsOfFile: pidFilePath, encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    public var isRunning: Bool { pid.map(Subprocess.isAlive) ?? false }

    /// The port the config file names.
    public var configuredPort: Int? {
        configured("port").flatMap { Int($0) }
    }

    /// The first address the config file's `bind` names.
    public var configuredBind: String? {
        configured("bind")?.split(separator: " ").first.map { String($0).replacingOccurrences(of: "\"", with: "") }
    }

    /// The rest of the config file's last line that starts with `directive` (the one Redis obeys).
    private func configured(_ directive: String) -> String? {
        guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else { return nil }
        return text.split(separator: "\n").last { $0.hasPrefix("\(directive) ") }
            .map { String($0.dropFirst(directive.count + 1)).trimmingCharacters(in: .whitespaces) }
    }

    /// Writes the config file and starts the server; returns once it accepts TCP connections.
    /// `settings` are config-file directives in order ("replicaof" → "127.0.0.1 6379"); `base`,
    /// another server's config file, goes first, and these lines after it win (Redis obeys a
    /// directive's last line).
    public func start(
        port: Int, bind: String, settings: [(String, String)], base: String? = nil,
        timeout: Duration
    ) async throws(Failure) -> pid_t {
        var lines = [
            "port \(port)", "bind \(bind)", "daemonize no", "supervised no", "dir \(Self.quote(dataDirectory))",
            "pidfile \(Self.quote(pidFilePath))", "logfile \(Self.quote(logPath))",
        ]
        lines += (ownSettings + settings).map { "\($0.0) \($0.1)" }
        let text =
            base.map { "\($0)\n\n# changeover: this server's own settings; everything above is its primary's.\n" } ?? ""
        try makeNodeDirectory()
        try writePrivateFile(configPath, text + lines.joined(separator: "\n") + "\n")
        return try await launch(port: port, bind: bind, timeout: timeout)
    }

    /// Creates the node directory (and its parents), 0700 and `runAs`'s.
    public func makeNodeDirectory() throws(Failure) {
        do {
            try LocalFiles.makeDirectory(nodeDirectory, owner: runAs, mode: 0o700)
            if let runtimeDirectory { try LocalFiles.makeDirectory(runtimeDirectory, owner: runAs, mode: 0o755) }
        } catch {
            throw Failure(description: "cannot create \(nodeDirectory): \(error)")
        }
    }

    /// Writes `contents` to `path` in the node directory, mode 0600 and `runAs`'s (the server
    /// reads it, and others must not: it holds passwords or their hashes).
    public func writePrivateFile(_ path: String, _ contents: String) throws(Failure) {
        let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        fchmod(fd, 0o600)
        if let (uid, gid) = LocalFiles.ids(of: runAs) { fchown(fd, uid, gid) }
        let data = Array(contents.utf8)
        guard write(fd, data, data.count) == data.count else {
            throw Failure(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Starts the server again from its config file as it stands: after settle's `CONFIG
    /// REWRITE` a promoted replica starts as a primary. Returns once it accepts TCP connections.
    public func restart(timeout: Duration) async throws(Failure) -> pid_t {
        guard let port = configuredPort, let bind = configuredBind else {
            throw Failure(description: "cannot restart redis-server: \(configPath) names no port or bind address")
        }
        try makeNodeDirectory()
        // A server that exited as our child is a zombie until reaped.
        if let pid { _ = Subprocess.reap(pid) }
        return try await launch(port: port, bind: bind, timeout: timeout)
    }

    private func launch(port: Int, bind: String, timeout: Duration) async throws(Failure) -> pid_t {
        let pid: pid_t
        do {
            pid = try Subprocess.spawn(
                Subprocess.umaskPrefix(0o077) + Subprocess.runAsPrefix(runAs) + [
                    "\(binDirectory)/redis-server", configPath,
                ],
                environment: environment, outputPath: "\(nodeDirectory)/redis.out", newSession: true)
        } catch {
            throw Failure(description: error.description)
        }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // Checked once more after the deadline: a starved task may wake up only after it.
        while true {
            if let status = Subprocess.reap(pid) {
                throw Failure(description: "redis-server exited during start-up (status \(status)); see \(logPath)")
            }
            if self.pid == pid, FreePort.accepts(port, host: ListenAddresses.reachable(bind)) { return pid }
            guard clock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(5))
        }
        kill(pid, SIGKILL)
        throw Failure(
            description:
                "redis-server did not listen on \(ListenAddresses.reachable(bind)):\(port) within \(timeout.seconds) s; see \(logPath)"
        )
    }

    /// Stops the server (SIGTERM: it exits without saving when `save` is off) and waits for it.
    public func stop(timeout: Duration, signal: Int32 = SIGTERM) async throws(Failure) {
        guard let pid, Subprocess.isAlive(pid) else { return }
        kill(pid, signal)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // Checked once more after the deadline: a starved task may wake up only after it.
        while true {
            _ = Subprocess.reap(pid)
            if !Subprocess.isAlive(pid) { return }
            guard clock.now < deadline else { break }
            try? await Task.sleep(for: .milliseconds(2))
        }
        kill(pid, SIGKILL)
        throw Failure(description: "redis-server (pid \(pid)) did not stop within \(timeout.seconds) s")
    }

    /// Quotes a config-file argument the way redis.conf reads it.
    public static func quote(_ value: String) -> String {
        let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\""
    }
}
