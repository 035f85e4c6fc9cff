/// A follower a provisioner started: where it listens and the facts that locate it
/// (`follower.dataDirectory` or `follower.container`, …) for the state store and the audit log.
public struct Follower: Sendable {
    public var host: String
    public var port: Int
    public var facts: Facts

    public init(host: String, port: Int, facts: Facts) {
        self.host = host
        self.port = port
        self.facts = facts
    }
}
