import Foundation

/// How the scheduler estimates and plans (the config's `scheduling:` section). Defaults are
/// conservative: they only matter until the state store has history to measure from.
public struct SchedulingPolicy: Sendable, Equatable {
    /// The switchover's expected length (fence to settle) for a database with no completed
    /// changeover yet. With history: three times the longest of its last five.
    public var switchoverEstimate: Duration = .seconds(5 * 60)
    /// What the window must have left beyond the estimate for a switchover to start (the fit rule).
    public var margin: Duration = .seconds(10 * 60)
    /// Base-backup throughput assumed until a changeover has measured one, bytes per second.
    public var throughput: Int64 = 20 * 1024 * 1024
    /// Provisioning starts at least this long before the window opens.
    public var minimumLead: Duration = .seconds(15 * 60)
    /// The lead when the database's size is unknown (unreachable, never copied).
    public var defaultLead: Duration = .seconds(2 * 3600)
    /// While waiting for the window, how often the follower's catch-up is checked again.
    public var recheckEvery: Duration = .seconds(60)

    public init() {}
}

/// A changeover the config's `schedule:` section asks for: the daemon records it as an intent
/// unless the database already runs the image or has a changeover to it.
public struct ScheduledChangeover: Sendable, Equatable {
    public var database: String
    public var image: String
    public var deadline: Date?

    public init(database: String, image: String, deadline: Date? = nil) {
        self.database = database
        self.image = image
        self.deadline = deadline
    }
}

/// The daemon's own settings (the config's `daemon:` section).
public struct DaemonSettings: Sendable, Equatable {
    /// Loopback only: 127.0.0.1 (or localhost).
    public var host: String = "127.0.0.1"
    public var port: Int = 9187
    /// The environment variable that holds the bearer token of the HTTP endpoints.
    public var tokenEnvironment: String = "CHANGEOVER_DAEMON_TOKEN"
    /// How many changeovers run at once, fleet-wide.
    public var concurrency: Int = 2
    /// How often the scheduler looks at the intents.
    public var tick: Duration = .seconds(5)

    public init() {}
}
