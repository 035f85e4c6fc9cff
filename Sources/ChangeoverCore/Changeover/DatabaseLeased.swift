import Foundation

/// Another controller holds the database's lease.
public struct DatabaseLeased: Error, CustomStringConvertible, Sendable {
    public var database: String
    public var state: LeaseState?
    public var description: String {
        guard let lease = state?.lease else { return "database \(database) is leased by another controller" }
        return "database \(database) is leased by \(lease.holder) for changeover \(lease.changeover) until "
            + "\(ISO8601DateFormatter().string(from: lease.expiresAt)) (fencing token \(lease.token)); "
            + "wait for it to finish, or for its lease to expire if that controller died"
    }
}
