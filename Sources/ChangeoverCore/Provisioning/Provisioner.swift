import PostgresClient

/// Where a database's servers live and how followers are made there: `local` (processes on this
/// host from an image's bin directory) or `docker` (containers from an image tag, through the
/// Docker Engine API). The engines decide what to do (slots, lag, fence, promotion); the
/// provisioner does it to servers where they live: makes and removes followers, finds a
/// follower a killed controller left, hands out the old primary and the follower as
/// `ManagedPostgres` values, and tells what an image is.
///
/// Every method is idempotent against what it finds, like the engines' steps.
public protocol Provisioner: Sendable {
    /// Where followers listen.
    var listenAddress: String { get }
    /// Preflight: whether followers can be made (and `followerPort`, if fixed, is free).
    func check(followerPort: Int?) async -> PreflightCheck
    /// Where a changeover's follower would go, for `plan`: "in /var/lib/…/ID/data".
    func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String

    // MARK: images

    /// Preflight: the new image really differs from what the primary runs.
    func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck
    /// Preflight checks that the images can run `engine`, and the server version the new one carries.
    func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?)
    /// Facts that identify both images for the audit log (tag, image Id, libc6); empty when the
    /// provisioner knows nothing beyond the names.
    func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts

    // MARK: Postgres

    /// Preflight: the primary (whose `data_directory` and `port` the server reported) is one
    /// this provisioner can fence, restart and read.
    func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck
    /// Facts that locate the old primary (its data directory is already in `old.dataDirectory`),
    /// read while it runs: e.g. the network namespace a local primary must be restarted in.
    func oldPrimaryFacts(dataDirectory: String) -> Facts
    /// The old primary, from the facts that located it.
    func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres
    /// The follower, from the facts its provisioning recorded.
    func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres
    /// A follower of this changeover that runs already (made before an interruption), or nil.
    func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower?
    /// Base-backs-up `source` through `slot` with WAL streaming into a new follower on `image`
    /// and starts it as a standby (primary_conninfo with application_name = the slot's name).
    /// `layout` is where the primary keeps its files, when it could tell.
    func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower
    /// See the extension's default.
    func disableOldPostgresService(_ facts: Facts) async throws -> String?
    /// Stops the follower (immediately: it is thrown away) and removes everything it had.
    func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    /// After the grace period: removes a stopped old primary this controller made; returns what was done.
    func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String

    // MARK: Redis

    /// A replica of this changeover that runs already, or nil.
    func runningRedisFollower(changeover: String) async throws -> Follower?
    /// Starts a replica on `image` with `settings` (redis.conf directives in order, values quoted
    /// as redis.conf reads them) and `acl` (ACL file lines, with hashed passwords), once it accepts
    /// connections. Passwords never go on a command line. `primaryConfigFile` is the primary's
    /// config file (`INFO server`), when it has one; `primaryBind` where it listens (`bind`).
    func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port: Int?, settings: [(String, String)],
        acl: String?, primaryConfigFile: String?, primaryBind: String?, timeout: Duration
    ) async throws -> Follower
    func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool
    func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws
    /// See the extension's default.
    func disableOldRedisService(_ facts: Facts) async throws -> String?
    /// After the old Redis primary was shut down: removes what this controller made of it.
    func retireOldRedis(_ facts: Facts) async throws -> String?
    /// Preflight, for `plan`: how the primary is laid out and run (its configuration, its
    /// service) and what the follower will be made; nil when the provisioner cannot tell.
    func layoutCheck(_ layout: ServerLayout) async -> PreflightCheck?
}

/// Where a primary keeps its configuration, as it reports it.
public enum ServerLayout: Sendable {
    case postgres(PostgresLayout?)
    /// The config file `INFO server` names (nil: started without one).
    case redis(configFile: String?)
}

extension Provisioner {
    /// After the switchover: keeps the old primary's service from starting it again (a reboot
    /// must not bring two primaries up); returns what it did, nil when there was nothing to do.
    public func disableOldPostgresService(_ facts: Facts) async throws -> String? { nil }
    /// After the switchover: the same for an old Redis primary.
    public func disableOldRedisService(_ facts: Facts) async throws -> String? { nil }
    public func layoutCheck(_ layout: ServerLayout) async -> PreflightCheck? { nil }
}
