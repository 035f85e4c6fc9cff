import Foundation

/// The current primary of a database as the last changeover left it; overrides the config,
/// whose primary is the one the database had when it was written.
public struct DatabaseState: Sendable, Codable, Equatable {
    public var database: String
    public var image: String
    /// The primary's conninfo without a password.
    public var primary: String
    public var dataDirectory: String?
    public var changedAt: Date
    public var changeover: String
    /// The container the primary runs in (docker provisioner).
    public var container: String? = nil
}

extension DatabaseState {
    public init(
        database: String, primary: String, image: String, changeover: String, changedAt: Date,
        dataDirectory: String? = nil, container: String? = nil
    ) {
        self.database = database
        self.image = image
        self.primary = primary
        self.dataDirectory = dataDirectory
        self.changedAt = changedAt
        self.changeover = changeover
        self.container = container
    }
}
