import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Postgres server that the exec provisioner's command manages: the old primary (`role`
/// "old-primary") or this changeover's follower ("follower"), named to the command by the
/// `server` object (host, port, data directory as the server reports it, the facts the command
/// gave when it made it). Fenced with `stop`, read with `controldata`, restarted with `start`.
public struct ExecPostgres: ManagedPostgres {
    public var command: ExecCommand
    /// What every request about this server carries: changeover, database, engine, role, server.
    public var request: [String: JSONValue]
    public var role: String
    public var endpoint: String
    /// Remembers a follower seen running (the catch-up loop asks every poll).
    let seen: ExecProvisioner.RunningCache?
    /// The control data `stop` brought back: the fence reads it right after, inside the write pause.
    private let stopped = StoppedControlData()

    final class StoppedControlData: Sendable {
        let value = Mutex<[String: String]?>(nil)
    }

    init(
        command: ExecCommand, request: [String: JSONValue], role: String, endpoint: String,
        seen: ExecProvisioner.RunningCache? = nil
    ) {
        self.command = command
        self.request = request
        self.role = role
        self.endpoint = endpoint
        self.seen = seen
    }

    public var location: String { "\(role) \(endpoint) (exec provisioner)" }

    /// `status` → `{"running": true}` while the server accepts connections.
    public var isRunning: Bool {
        get async {
            if let seen, seen.recently(role) { return true }
            guard let reply = try? await command.call("status", request) else { return false }
            let running = reply["running"]?.bool ?? false
            if running { seen?.saw(role) }
            return running
        }
    }

    /// `stop` with `mode` fast (SIGINT), immediate (SIGQUIT) or smart (SIGTERM); the command
    /// returns once the server has exited, and may bring its control data along.
    public func stop(timeout: Duration, signal: Int32) async throws {
        seen?.forget(role)
        let mode =
            switch signal {
            case SIGINT: "fast"
            case SIGTERM: "smart"
            default: "immediate"
            }
        var body = request
        body["mode"] = .string(mode)
        let reply = try await command.require("stop", body, timeout: timeout)
        let control = reply["controlData"]?.textDictionary ?? [:]
        stopped.value.withLock { $0 = control.isEmpty ? nil : control }
    }

    /// What `stop` brought back, else `controldata` → `{"controlData": {…}}` in pg_controldata's words.
    public func controlData() async throws -> [String: String] {
        if let cached = stopped.value.withLock({ $0 }) { return cached }
        let reply = try await command.require("controldata", request)
        let control = reply["controlData"]?.textDictionary ?? [:]
        guard !control.isEmpty else {
            throw ProvisionError("exec provisioner: controldata gave no controlData object")
        }
        return control
    }

    /// `start`: the command starts the stopped server as it last ran and returns once it accepts connections.
    public func startAgain(log: String, timeout: Duration) async throws {
        stopped.value.withLock { $0 = nil }
        var body = request
        body["log"] = .string(log)
        _ = try await command.require("start", body, timeout: timeout)
    }

    /// `drop-slot`: the stopped server's slot goes (its `pg_replslot/NAME`).
    public func removeSlotDirectory(_ slot: String) async throws {
        var body = request
        body["slot"] = .string(slot)
        _ = try await command.require("drop-slot", body)
    }
}
