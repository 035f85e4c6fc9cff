/// A follower a provisioner started: where it listens and the facts that locate it
/// (`follower.dataDirectory` or `follower.container`, …) for the state store and the audit log.
public struct Follower: Sendable {
    public var host: String
    public var port: Int
    /// The provisioner's own facts, which vary by provisioner (`follower.container`, an exec
    /// command's `follower.*`): merged into the changeover's.
    public var facts: Facts

    /// A follower whose facts are given as text, key by key.
    public init(host: String, port: Int, facts: [String: String]) {
        self.init(host: host, port: port, facts: Facts(facts))
    }

    public init(host: String, port: Int, facts: Facts) {
        self.host = host
        self.port = port
        self.facts = facts
    }
}
