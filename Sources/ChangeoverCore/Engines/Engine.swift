import Logging

/// A database engine's part in a changeover: what to check, how to build and watch a follower,
/// how to fence, promote and verify. The executor (`ChangeoverRunner`) owns the order, the
/// router, the state store and the audit log; an engine only does the engine-specific work.
///
/// Every method is idempotent against the real state it finds (a stopped server is already
/// fenced, an existing slot is reused), so a retry after a crash is safe.
public protocol Engine: Sendable {
    /// The primary the changeover starts from.
    var currentPrimary: Endpoint { get }
    /// Checks that touch nothing. A failed check stops the changeover before it starts.
    func preflight() async -> [PreflightCheck]
    /// What provisioning would create, for `plan`.
    func plannedResources() -> [String]
    func provision(_ facts: inout Facts) async throws
    func catchUp(_ facts: inout Facts) async throws
    /// Everything before the fence that makes it short (a CHECKPOINT, connections opened);
    /// clients still write meanwhile.
    func prepareFence(_ facts: inout Facts) async throws
    /// Stops the old primary taking writes and records the final position.
    func fence(_ facts: inout Facts) async throws
    /// Waits until the follower has everything the old primary acknowledged.
    func finalSync(_ facts: inout Facts) async throws
    /// Promotes the follower; returns where the new primary listens.
    func promote(_ facts: inout Facts) async throws -> Endpoint
    /// Whether the follower has been promoted (observed, not remembered): decides where a
    /// resumed changeover goes on.
    func isPromoted(_ facts: Facts) async -> Bool
    /// After clients were repointed: make sure the old primary can never take a write again
    /// and let its stray clients go (Redis: REPLICAOF the new primary, then CLIENT UNPAUSE).
    func demoteOldPrimary(_ facts: inout Facts) async throws
    func verify(_ facts: inout Facts) async throws
    func settle(_ facts: inout Facts) async throws
    /// After the grace period (`retireAfter`): let the old primary go. Returns what was done.
    /// Never retires a server that is a primary. Safe to call repeatedly.
    func retireOldPrimary(_ facts: inout Facts) async throws -> String
    /// Restores the old primary and removes what provisioning made. Safe to call repeatedly.
    func rollBack(_ facts: inout Facts) async throws
}

/// What an engine is built from: the database, the images, where followers go, the secrets.
public struct EngineSetup: Sendable {
    public var changeover: String
    public var database: DatabaseConfig
    public var fromImage: FleetConfig.Image
    public var toImage: FleetConfig.Image
    public var provisioner: any Provisioner
    /// Where the controller keeps its own files (logs of servers it restarts).
    public var stateDirectory: String
    /// Where secrets given as environment variables are read from.
    public var environment: [String: String]
    public var logger: Logger
    public var progress: @Sendable (String) -> Void
    /// Retries the engine's remote calls and reports each retry.
    public var retries: Retrier = Retrier()

    /// The database's password, read now.
    public func password() throws(ConfigError) -> String? {
        try database.password?.value(environment: environment)
    }

    /// The replication password (the database's password unless one is given), read now.
    public func replicationPassword() throws(ConfigError) -> String? {
        try database.replicationPassword?.value(environment: environment)
    }
}

/// Thrown by `promote` when it found the follower gone before asking it to promote: nothing was
/// promoted, so the changeover can still roll back.
public struct PromotionNotRequested: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Names and figures a changeover learns as it goes, persisted with it.
public typealias Facts = ChangeoverFacts

/// One preflight check and its result.
public struct PreflightCheck: Sendable, Codable, Equatable {
    public var name: String
    public var passed: Bool
    public var detail: String

    public init(_ name: String, passed: Bool, _ detail: String) {
        self.name = name
        self.passed = passed
        self.detail = detail
    }
}

/// Where clients reach a server. `address` is what a client would be given — a libpq conninfo
/// for Postgres, a redis:// URL for Redis — and never holds a password.
public struct Endpoint: Sendable, Codable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var address: String

    public init(host: String, port: Int, address: String) {
        self.host = host
        self.port = port
        self.address = address
    }

    public var description: String { "\(host):\(port)" }
}
