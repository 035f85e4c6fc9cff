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
    static let functions = #"alive() { [ -r /proc/$1/stat ] || return 1; read -r s < /proc/$1/stat; s=${s##*") "}; s=${s%% *}; [ "$s" != Z ] && [ "$s" != X ]; }"#

    private var data: String { Shell.quote(dataDirectory) }
    private var runAsPrefix: String { Shell.join(Subprocess.runAsPrefix(runAs)) }

    public var isRunning: Bool {
        get async throws {
            let script = "\(Self.functions)\npid=$(head -n 1 \(data)/postmaster.pid 2>/dev/null) || exit 1\nalive \"$pid\""
            let outcome = try await login.run(host, script, timeout: .seconds(30))
            return outcome.succeeded
        }
    }

    public func stop(timeout: Duration, signal: Int32) async throws {
        let name = signal == SIGINT ? "INT" : signal == SIGQUIT ? "QUIT" : signal == SIGKILL ? "KILL" : "TERM"
        let script = """
            \(Self.functions)
            pid=
            [ -r \(data)/postmaster.pid ] && read -r pid < \(data)/postmaster.pid
            if [ -n "$pid" ] && alive "$pid"; then
              kill -\(name) "$pid" || exit 3
              n=0
              # Every 3 ms: a sleep is a process, and a tighter loop takes the CPU the shutdown needs.
              while alive "$pid" && [ -e \(data)/postmaster.pid ]; do
                n=$((n+1)); [ $n -gt \(Int(timeout.milliseconds) / 3) ] && { echo "postgres (pid $pid) did not stop within \(timeout.seconds) s" >&2; exit 3; }
                sleep 0.003
              done
            fi
            echo changeover-stopped
            base64 -w0 \(data)/global/pg_control 2>/dev/null | head -c 684
            """
        let outcome = try await login.run(host, script, timeout: timeout + .seconds(10))
        guard outcome.succeeded, let marker = outcome.stdout.range(of: "changeover-stopped\n") else {
            throw ProvisionError("stopping postgres in \(location) failed: \(outcome.lastErrorLine)")
        }
        // The first 512 bytes of pg_control, read as the local fence reads it (its CRC checked);
        // a layout it does not know leaves controlData() to ask pg_controldata.
        let encoded = String(outcome.stdout[marker.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
        let control = Data(base64Encoded: encoded).flatMap { ControlFile.parse([UInt8]($0.prefix(512))) }
        fenced.control.withLock { $0 = control }
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
        let opts = try await login.output(host, "cat \(data)/postmaster.opts", timeout: .seconds(30), doing: "reading postmaster.opts")
        var argv = LocalPostgres.parseOptions(opts)
        guard !argv.isEmpty else { throw ProvisionError("cannot restart postgres in \(location): postmaster.opts is empty") }
        argv[0] = "\(binDirectory)/postgres"
        let remoteLog = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().appendingPathComponent("postgres.log").path
        _ = try await Self.launch(argv, host: host, login: login, runAs: runAs, dataDirectory: dataDirectory, log: remoteLog, timeout: timeout)
    }

    public func removeSlotDirectory(_ slot: String) async throws {
        _ = try await login.output(host, "rm -rf \(Shell.quote("\(dataDirectory)/pg_replslot/\(slot)"))", timeout: .seconds(30),
                                   doing: "removing slot \(slot)")
    }

    /// Starts `argv` (a postgres command line) on `host` in a session of its own, its output
    /// appended to `log` there, and returns its PID once `postmaster.pid` says it is ready (or a
    /// standby); a server that exits first fails with its log's last lines.
    static func launch(_ argv: [String], host: SSHHost, login: SSHLogin, runAs: String?, dataDirectory: String, log: String,
                       timeout: Duration) async throws -> Int32 {
        let data = Shell.quote(dataDirectory), logFile = Shell.quote(log)
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
            throw ProvisionError("starting postgres on host \(host.name) failed: \(ConfigError.maskingPasswords(in: said))")
        }
        return pid
    }
}
