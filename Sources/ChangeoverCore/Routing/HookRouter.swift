/// Runs an operator's command when the primary moves, with the new address in its
/// environment: CHANGEOVER_DATABASE, CHANGEOVER_ID, CHANGEOVER_HOST, CHANGEOVER_PORT,
/// CHANGEOVER_ADDRESS (a conninfo for Postgres, a redis:// URL for Redis; never a password;
/// also as CHANGEOVER_CONNINFO), CHANGEOVER_OLD_HOST, CHANGEOVER_OLD_PORT.
/// It runs after the promotion and before clients resume; a non-zero exit fails the step.
public struct HookRouter: Router {
    public var command: String
    public var timeout: Duration

    public init(command: String, timeout: Duration) {
        self.command = command
        self.timeout = timeout
    }

    public func pause(database: String) async throws {}
    public func resume(database: String) async throws {}

    public func check(database: String, primary: Endpoint) async -> PreflightCheck {
        let empty = command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        return PreflightCheck(
            "router", passed: !empty,
            empty ? "the hook router has no command" : "hook: runs a command when the primary moves")
    }

    public func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws {
        var environment = [
            "CHANGEOVER_DATABASE": database,
            "CHANGEOVER_ID": changeover,
            "CHANGEOVER_HOST": endpoint.host,
            "CHANGEOVER_PORT": String(endpoint.port),
            "CHANGEOVER_ADDRESS": endpoint.address,
            "CHANGEOVER_CONNINFO": endpoint.address,
        ]
        if let old {
            environment["CHANGEOVER_OLD_HOST"] = old.host
            environment["CHANGEOVER_OLD_PORT"] = String(old.port)
        }
        let outcome = try await Subprocess.run(["/bin/sh", "-c", command], environment: environment, timeout: timeout)
        guard outcome.succeeded else {
            throw RouterError(description: "the hook router's command exited with status \(outcome.status)")
        }
    }
}

public struct RouterError: Error, CustomStringConvertible, Sendable {
    public var description: String
    /// The router could not be reached or did not answer in time: trying again may help.
    public var transient = false
}
