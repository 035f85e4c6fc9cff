/// A Postgres server the controller fences, reads and restarts: a data directory on this host
/// (`LocalPostgres`) or a container (`DockerPostgres`).
public protocol ManagedPostgres: Sendable {
    /// For messages: "data directory /x", "container orders-pg".
    var location: String { get }
    /// Whether it runs; an error when that cannot be told (its host cannot be reached).
    var isRunning: Bool { get async throws }
    /// Stops the server with `signal` (SIGINT: a fast shutdown, which writes a shutdown
    /// checkpoint and lets the walsenders send everything) and returns once it has exited,
    /// watching closely: this is inside the write pause. A stopped server is fine.
    func stop(timeout: Duration, signal: Int32) async throws
    /// "Database cluster state" and "Latest checkpoint location", in pg_controldata's words.
    func controlData() async throws -> [String: String]
    /// Starts a stopped server again as it last ran; returns once it accepts connections.
    /// `log` is where a server the controller runs itself writes its output.
    func startAgain(log: String, timeout: Duration) async throws
    /// Drops a replication slot of a stopped server: removes `pg_replslot/NAME`.
    func removeSlotDirectory(_ slot: String) async throws
    /// Makes the stop that `stop(timeout:signal:)` would do ready now, before the write pause,
    /// so that inside it the stop costs as little as it can; nil when there is nothing to make
    /// ready (a local server is stopped by a signal this process sends).
    func armStop(timeout: Duration, signal: Int32) async throws -> (any ArmedStop)?
}

extension ManagedPostgres {
    public func armStop(timeout: Duration, signal: Int32) async throws -> (any ArmedStop)? { nil }
}

/// A stop made ready before the write pause (`ManagedPostgres.armStop`).
public protocol ArmedStop: Sendable {
    /// Stops the server as `stop(timeout:signal:)` would; `.notFired` when the armed command
    /// is gone and nothing was signalled, so that the caller stops the server the ordinary way.
    func fire() async throws -> ArmedStopOutcome
    /// Lets it go: nothing is signalled.
    func disarm()
}

public enum ArmedStopOutcome: Sendable, Equatable {
    /// Nothing was signalled.
    case notFired
    /// The server stopped; `control` is what `controlData()` would say, when the stop read it.
    case stopped(control: [String: String]?)
}
