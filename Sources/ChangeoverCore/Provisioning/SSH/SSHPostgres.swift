import Foundation
import Synchronization

/// A Postgres data directory on another host, managed through its ssh connection: each call is
/// one remote command. The fence is one command too: it sends the signal, waits for the
/// postmaster to exit watching at millisecond granularity, says so, and prints `pg_controldata`,
/// so that the final position the fence reads next costs no second round trip.
public struct SSHPostgres: ManagedPostgres {
    public let host: SSHHost
    public let login: SSHLogin
    public let binDirectory: String
    public let dataDirectory: String
    public let runAs: String?
    /// `pg_controldata` as the fence printed it, for the `controlData()` that follows.
    private let fenced = Fenced()

    private final class Fenced: Sendable {
        let control = Mutex<[String: String]?>(nil)
    }

    public init(host: SSHHost, login: SSHLogin, binDirectory: String, dataDirectory: String, runAs: String?) {
        self.host = host
        self.login = login
        self.binDirectory = binDirectory
        self.dataDirectory = dataDirectory
        self.runAs = runAs
    }

    public var location: String { "data directory \(dataDirectory) on host \(host.name)" }

    /// Shell functions the scripts share: `alive PID` (a process that is not a zombie).
    static let functions =
        #"alive() { [ -r /proc/$1/stat ] || return 1; read -r s < /proc/$1/stat; s=${s##*") "}; s=${s%% *}; [ "$s" != Z ] && [ "$s" != X ]; }"#

    private var data: String { Shell.quote(dataDirectory) }
    private var runAsPrefix: String { Shell.join(Subprocess.runAsPrefix(runAs)) }

    public var isRunning: Bool {
        get async throws {
            let script =
                "\(Self.functions)\npid=$(head -n 1 \(data)/postmaster.pid 2>/dev/null) || exit 1\nalive \"$pid\""
            let outcome = try await login.run(host, script, timeout: .seconds(30))
            return outcome.succeeded
        }
    }

    public func stop(timeout: Duration, signal: Int32) async throws {
        let outcome = try await login.run(
            host, Self.stopScript(dataDirectory, signal: signal, timeout: timeout, armed: false),
            shell: "bash", timeout: timeout + .seconds(10))
        let control = try Self.stopped(outcome, location)
        fenced.control.withLock { $0 = control }
    }

    /// The stop, started now and waiting for the word: the ssh session, the remote shell and
    /// its pause are made before the write pause, which then costs a line sent and the
    /// server's own shutdown. A controller that goes away closes the command's input, and the
    /// command ends without signalling anything.
    public func armStop(timeout: Duration, signal: Int32) async throws -> (any ArmedStop)? {
        let started = try login.start(
            host, Self.stopScript(dataDirectory, signal: signal, timeout: timeout, armed: true),
            shell: "bash")
        guard await started.waitForOutput("changeover-armed\n", timeout: .seconds(30)) else {
            started.closeInput()
            let outcome = try await login.finish(started, host, timeout: .seconds(5))
            throw ProvisionError("making the stop of postgres in \(location) ready failed: \(outcome.lastErrorLine)")
        }
        return SSHArmedStop(started: started, host: host, login: login, location: location, timeout: timeout)
    }

    /// The stop as a bash script: it sends the signal, watches the postmaster every 2 ms without
    /// starting a process per look (`read -t` on a pipe nobody writes to), says when it exited
    /// and prints `pg_control` and a last line, `changeover-end`. Armed, it first says so and
    /// waits for the line `go`.
    static func stopScript(_ dataDirectory: String, signal: Int32, timeout: Duration, armed: Bool) -> String {
        let data = Shell.quote(dataDirectory)
        let name = signal == SIGINT ? "INT" : signal == SIGQUIT ? "QUIT" : signal == SIGKILL ? "KILL" : "TERM"
        let wait =
            armed
            ? """
            echo changeover-armed
            IFS= read -r -t 600 word || exit 0
            [ "$word" = go ] || exit 0

            """ : ""
        return """
            \(functions)
            exec 9<> <(:)
            \(wait)pid=
            [ -r \(data)/postmaster.pid ] && read -r pid < \(data)/postmaster.pid
            if [ -n "$pid" ] && alive "$pid"; then
              kill -\(name) "$pid" || exit 3
              t=${EPOCHREALTIME//[!0-9]/}; end=$((10#$t / 1000 + \(Int(timeout.milliseconds))))
              while alive "$pid" && [ -e \(data)/postmaster.pid ]; do
                t=${EPOCHREALTIME//[!0-9]/}
                [ $((10#$t / 1000)) -gt $end ] && { echo "postgres (pid $pid) did not stop within \(timeout.seconds) s" >&2; exit 3; }
                read -r -t 0.002 -u 9 _
              done
            fi
            echo changeover-stopped
            base64 -w0 \(data)/global/pg_control
            printf '\\nchangeover-end\\n'
            """
    }

    /// What the stop printed: the first 512 bytes of pg_control, read as the local fence reads
    /// it (its CRC checked); a layout it does not know leaves controlData() to ask pg_controldata.
    static func stopped(_ outcome: Subprocess.Outcome, _ location: String) throws -> [String: String]? {
        guard outcome.succeeded, let marker = outcome.stdout.range(of: "changeover-stopped\n") else {
            throw ProvisionError("stopping postgres in \(location) failed: \(outcome.lastErrorLine)")
        }
        let encoded = outcome.stdout[marker.upperBound...].split(separator: "\n").first.map(String.init) ?? ""
        return Data(base64Encoded: encoded).flatMap { ControlFile.parse([UInt8]($0.prefix(512))) }
    }

    public func controlData() async throws -> [String: String] {
        if let control = fenced.control.withLock({ $0 }) { return control }
        let stdout = try await login.output(
            host, "LC_ALL=C \(runAsPrefix) \(Shell.quote("\(binDirectory)/pg_controldata")) -D \(data)",
            timeout: .seconds(30), doing: "pg_controldata")
        return LocalPostgres.parseControlData(stdout)
    }

    /// Starts the server again with the command line it last ran with (`postmaster.opts`).
    public func startAgain(log: String, timeout: Duration) async throws {
        let opts = try await login.output(
            host, "cat \(data)/postmaster.opts", timeout: .seconds(30), doing: "reading postmaster.opts")
        var argv = LocalPostgres.parseOptions(opts)
        guard !argv.isEmpty else {
            throw ProvisionError("cannot restart postgres in \(location): postmaster.opts is empty")
        }
        argv[0] = "\(binDirectory)/postgres"
        let remoteLog = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent(
            "postgres.log"
        ).path
        _ = try await Self.launch(
            argv, host: host, login: login, runAs: runAs, dataDirectory: dataDirectory, log: remoteLog, timeout: timeout
        )
    }

    public func removeSlotDirectory(_ slot: String) async throws {
        _ = try await login.output(
            host, "rm -rf \(Shell.quote("\(dataDirectory)/pg_replslot/\(slot)"))", timeout: .seconds(30),
            doing: "removing slot \(slot)")
    }

    /// Starts `argv` (a postgres command line) on `host` in a session of its own, its output
    /// appended to `log` there, and returns its PID once `postmaster.pid` says it is ready (or a
    /// standby); a server that exits first fails with its log's last lines.
    static func launch(
        _ argv: [String], host: SSHHost, login: SSHLogin, runAs: String?, dataDirectory: String, log: String,
        timeout: Duration
    ) async throws -> Int32 {
        let data = Shell.quote(dataDirectory)
        let logFile = Shell.quote(log)
        let script = """
            \(functions)
            cd / && touch \(logFile) && chmod 666 \(logFile)
            setsid \(Shell.join(Subprocess.runAsPrefix(runAs) + argv)) >> \(logFile) 2>&1 < /dev/null &
            pid=$!
            n=0
            while :; do
              if ! alive "$pid"; then echo "postgres exited during start-up; its log (\(log) on host \(host.name)) ends:" >&2; tail -n 20 \(logFile) | tr '\\n' '|' >&2; echo >&2; exit 4; fi
              case "$(sed -n 8p \(data)/postmaster.pid 2>/dev/null)" in ready*|standby*) echo "$pid"; exit 0;; esac
              n=$((n+1)); [ $n -gt \(Int(timeout.milliseconds) / 10) ] && { echo "postgres did not accept connections within \(timeout.seconds) s" >&2; exit 4; }
              sleep 0.01
            done
            """
        let outcome = try await login.run(host, script, timeout: timeout + .seconds(10))
        guard outcome.succeeded, let pid = Int32(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            let said = outcome.stderr.split(whereSeparator: \.isNewline).suffix(2).joined(separator: " ")
            throw ProvisionError(
                "starting postgres on host \(host.name) failed: \(ConfigError.maskingPasswords(in: said))")
        }
        return pid
    }
}

/// A remote stop waiting for the word (`SSHPostgres.armStop`).
public final class SSHArmedStop: ArmedStop {
    /// The local ssh client of the armed command.
    public let started: Subprocess.Started
    let host: SSHHost
    let login: SSHLogin
    let location: String
    let timeout: Duration

    init(started: Subprocess.Started, host: SSHHost, login: SSHLogin, location: String, timeout: Duration) {
        self.started = started
        self.host = host
        self.login = login
        self.location = location
        self.timeout = timeout
    }

    public func fire() async throws -> ArmedStopOutcome {
        // A command that ended (its connection cut, its wait over) signalled nothing.
        guard started.status == nil, started.send("go") else { return .notFired }
        // Its last line says the stop is done: reading it spares the wait for the session to close.
        if await started.waitForOutput("changeover-end\n", timeout: timeout + .seconds(10)) {
            let control = try SSHPostgres.stopped(
                Subprocess.Outcome(status: 0, stdout: started.stdout, stderr: ""), location)
            let started = self.started
            Task.detached { _ = try? await started.finish(timeout: .seconds(30)) }
            return .stopped(control: control)
        }
        let outcome = try await login.finish(started, host, timeout: .seconds(10))
        return .stopped(control: try SSHPostgres.stopped(outcome, location))
    }

    public func disarm() { started.closeInput() }
}
