/// How clients find the primary. The engine decides when (pause before the fence, repoint
/// after the promotion, resume once repointed); a router only knows how.
public protocol Router: Sendable {
    /// Hold new client work (a pooler queues it). A no-op where the router cannot hold.
    func pause(database: String) async throws
    /// Send clients to `endpoint` from now on.
    func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws
    /// Let held client work go on, wherever the router now points.
    func resume(database: String) async throws
    /// For preflight: whether the router can be reached and sends the database's clients to
    /// `primary` now. Touches nothing, so a misconfigured router stops a changeover before the
    /// follower is built rather than inside the write pause.
    func check(database: String, primary: Endpoint) async -> PreflightCheck
}

/// For databases whose clients find the primary themselves (libpq multi-host conninfo with
/// target_session_attrs=read-write): nothing to do.
public struct NoRouter: Router {
    public init() {}
    public func pause(database: String) async throws {}
    public func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws {
    }
    public func resume(database: String) async throws {}
    public func check(database: String, primary: Endpoint) async -> PreflightCheck {
        PreflightCheck("router", passed: true, "none: clients find the primary themselves")
    }
}
