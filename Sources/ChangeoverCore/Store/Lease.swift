import Foundation

/// The right to work on one database: held by one controller (a daemon, or a CLI command) for
/// one changeover, until `expiresAt` unless renewed. Claimed in the state store, so that several
/// daemons sharing a store never work on a database at once.
///
/// `token` is the database's fencing token: it grows by one with every claim, so a holder whose
/// lease was taken over carries a smaller token than the new holder, and every write it makes
/// conditional on its token fails. Every audit record written under a lease carries the token
/// and the holder (`lease.token`, `lease.holder`).
public struct Lease: Sendable, Equatable, Codable {
    public var database: String
    public var changeover: String
    public var holder: String
    public var token: Int64
    /// By the store's clock (Postgres: the server's `clock_timestamp()`).
    public var expiresAt: Date
    /// Claimed by a daemon: when it expires unreleased (the daemon died), another daemon may
    /// resume the changeover.
    public var daemon: Bool

    public init(database: String, changeover: String, holder: String, token: Int64, expiresAt: Date, daemon: Bool) {
        self.database = database
        self.changeover = changeover
        self.holder = holder
        self.token = token
        self.expiresAt = expiresAt
        self.daemon = daemon
    }

    /// The facts every audit record written under the lease carries.
    public var auditFacts: [String: String] { ["lease.token": String(token), "lease.holder": holder] }
}

/// What the store knows of a database's lease now: the last lease claimed, released or not.
public struct LeaseState: Sendable, Equatable {
    public var lease: Lease
    /// Let go by its holder (the changeover ended or stopped cleanly).
    public var released: Bool
    /// Past its expiry by the store's clock when it was read: claimable by anyone.
    public var expired: Bool

    public init(lease: Lease, released: Bool, expired: Bool) {
        self.lease = lease
        self.released = released
        self.expired = expired
    }

    /// Held by a daemon that died: expired without being released.
    public var abandoned: Bool { expired && !released }
}

/// The lease a controller worked under is no longer its own: it expired, or another controller
/// took it over (its token is newer). The controller stops acting on the database at once.
public struct LeaseLost: Error, CustomStringConvertible, Sendable {
    public var database: String
    public var token: Int64
    public var reason: String

    public init(database: String, token: Int64, reason: String) {
        self.database = database
        self.token = token
        self.reason = reason
    }

    public var description: String {
        "the lease on database \(database) (fencing token \(token)) is no longer ours: \(reason); stopped acting on it"
    }
}
