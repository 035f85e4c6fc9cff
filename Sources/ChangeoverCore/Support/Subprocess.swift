import CSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Child processes started with posix_spawn.
///
/// Foundation's `Process` cannot be used for servers: it never sees the exit of a child that
/// daemonizes and it keeps children in the caller's session. Here servers are spawned in a
/// session of their own (so a terminal's Ctrl-C does not reach them and they outlive the
/// controller), output goes to files rather than pipes, and waiting is a `waitpid(WNOHANG)` poll
/// with a deadline that never blocks a thread of the cooperative pool.
public enum Subprocess {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// The outcome of `run`.
    public struct Outcome: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var succeeded: Bool { status == 0 }
        /// The last non-empty line of stderr, for one-line error messages.
        public var lastErrorLine: String {
            stderr.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
        }
    }

    /// The prefix that runs a command as another user when the controller is root
    /// (Postgres refuses to run as root). `setpriv` execs, so the PID is the command's own.
    public static func runAsPrefix(_ user: String?) -> [String] {
        guard let user, getuid() == 0, user != "root" else { return [] }
        // HOME is the user's own: libpq looks for client certificates under $HOME/.postgresql,
        // and root's home is closed to the user (a TLS connection then fails on EACCES). `env`
        // execs, so the PID is still the program's.
        let home = getpwnam(user).map { String(cString: $0.pointee.pw_dir) } ?? "/"
        return ["setpriv", "--reuid=\(user)", "--regid=\(user)", "--init-groups", "/usr/bin/env", "HOME=\(home)"]
    }

    /// The prefix that runs a command with umask `mask`. `sh` execs, so the PID is the command's own.
    public static func umaskPrefix(_ mask: mode_t) -> [String] {
        ["/bin/sh", "-c", "umask 0\(String(mask, radix: 8)) && exec \"$@\"", "sh"]
    }

    /// Starts `argv` with its output appended to `outputPath` (or discarded), optionally in a new
    /// session or a process group of its own (whose ID is its PID). Its stdin is `stdinDescriptor`
    /// or /dev/null. It inherits this process's environment without the variables named in
    /// `unsetting`, with `environment` over it. Returns the PID. The caller owns reaping (see `reap`).
    public static func spawn(
        _ argv: [String],
        environment: [String: String] = [:],
        unsetting: Set<String> = [],
        outputPath: String? = nil,
        stderrPath: String? = nil,
        stdinDescriptor: Int32? = nil,
        newSession: Bool = false,
        newProcessGroup: Bool = false
    ) throws(Failure) -> pid_t {
        precondition(!argv.isEmpty)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        if let stdinDescriptor {
            posix_spawn_file_actions_adddup2(&actions, stdinDescriptor, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        let out = outputPath ?? "/dev/null"
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        if let stderrPath {
            posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        // Nothing but stdin, stdout and stderr reaches the child. A descriptor this process has
        // open without close-on-exec (Foundation writes files so) would otherwise stay open in a
        // long-lived child: a server spawned while a program was being written kept it, and
        // spawning that program failed with ETXTBSY for as long as the server ran.
        posix_spawn_file_actions_addclosefrom_np(&actions, 3)
        var flags: Int32 = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newSession { flags |= 0x80 }  // POSIX_SPAWN_SETSID (glibc >= 2.26)
        if newProcessGroup && !newSession {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        var merged = ProcessInfo.processInfo.environment
        for key in unsetting { merged[key] = nil }
        for (key, value) in environment { merged[key] = value }
        let envStrings = merged.map { "\($0.key)=\($0.value)" }

        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = envStrings.map { strdup($0) } + [nil]
        defer {
            for pointer in cArgs { free(pointer) }
            for pointer in cEnv { free(pointer) }
        }
        var pid: pid_t = 0
        var rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        // ETXTBSY: the program was just written, and a process forked meanwhile (by any thread)
        // still holds the writing descriptor until it execs, which on a loaded machine took
        // longer than half a second: up to 3 s.
        for _ in 0..<300 where rc == ETXTBSY {
            usleep(10_000)
            rc = posix_spawnp(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        }
        guard rc == 0 else {
            throw Failure(description: "cannot start \(argv[0]): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// Reaps `pid` if it is our child and has exited. Returns its exit status, or nil while it runs.
    /// A process that is not our child (or is already reaped) reports -1.
    public static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == 0 { return nil }
        if rc < 0 { return -1 }
        if status & 0x7f == 0 { return (status >> 8) & 0xff }  // exited
        return 128 + (status & 0x7f)  // killed by a signal
    }

    /// Whether a process exists and is not a zombie.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    /// Runs `argv` to completion with a deadline, collecting its output, its stdin /dev/null
    /// unless `stdin` is given. `onOutput` is called with stderr text as it grows (pg_basebackup's progress), at most every `progressEvery`.
    ///
    /// With `stdin`, the command reads those bytes (from an unlinked 0600 file, so that a secret
    /// in them is never on a command line or left on disk). With `processGroup`, it runs in a
    /// process group of its own and a timeout kills the whole group: the children it started and
    /// did not move to a session of their own go with it.
    public static func run(
        _ argv: [String],
        environment: [String: String] = [:],
        unsetting: Set<String> = [],
        stdin: Data? = nil,
        processGroup: Bool = false,
        timeout: Duration,
        progressEvery: Duration = .milliseconds(500),
        onOutput: (@Sendable (String) -> Void)? = nil
    ) async throws(Failure) -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.path
        let token = UUID().uuidString.prefix(12)
        let outPath = "\(scratch)/changeover-\(token).out"
        let errPath = "\(scratch)/changeover-\(token).err"
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        // Created up front and world-writable so a command run as another user can write them.
        for path in [outPath, errPath] {
            let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
            if fd >= 0 {
                fchmod(fd, 0o666)
                close(fd)
            }
        }
        var input: Int32?
        if let stdin {
            input = try stdinFile(stdin, path: "\(scratch)/changeover-\(token).in")
        }
        defer { if let input { close(input) } }
        let pid = try spawn(
            argv, environment: environment, unsetting: unsetting, outputPath: outPath, stderrPath: errPath,
            stdinDescriptor: input, newProcessGroup: processGroup)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var nextProgress = clock.now + progressEvery
        var status: Int32?
        while true {
            status = reap(pid)
            if status != nil { break }
            if clock.now >= deadline {
                kill(processGroup ? -pid : pid, SIGKILL)
                while reap(pid) == nil { usleep(1000) }
                throw Failure(
                    description:
                        "\(URL(fileURLWithPath: argv[0]).lastPathComponent) did not finish within \(timeout.seconds) s")
            }
            if let onOutput, clock.now >= nextProgress {
                nextProgress = clock.now + progressEvery
                if let text = try? String(contentsOfFile: errPath, encoding: .utf8) { onOutput(text) }
            }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Outcome(status: status ?? -1, stdout: stdout, stderr: stderr)
    }
}

extension Subprocess {
    /// A descriptor reading `data` from the start: written to a new 0600 file that is unlinked
    /// at once. Closed on exec (the child gets its own copy as stdin).
    static func stdinFile(_ data: Data, path: String) throws(Failure) -> Int32 {
        let fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        unlink(path)
        let bytes = [UInt8](data)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                throw Failure(description: "cannot write the command's input: \(String(cString: strerror(errno)))")
            }
            written += n
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    /// Kills (SIGKILL) every live process whose command line contains `text`: what a killed
    /// controller's children (a half-done pg_basebackup) left running. Returns how many.
    @discardableResult
    public static func killProcesses(commandLineContaining text: String) -> Int {
        guard !text.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return 0
        }
        var killed = 0
        for pid in entries.compactMap({ pid_t($0) }) where pid != getpid() && isAlive(pid) {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            let commandLine = String(decoding: data.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            if commandLine.contains(text) {
                kill(pid, SIGKILL)
                killed += 1
                _ = reap(pid)
            }
        }
        return killed
    }

    /// The bytes of the regular files under `path`.
    public static func directoryBytes(_ path: String) -> Int64 {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let item = enumerator.nextObject() as? String {
            if let size = (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(item)"))?[.size] as? Int64 {
                total += size
            }
        }
        return total
    }
}
