/// Where a Redis server listens and how to authenticate to it.
///
/// `description` is `host:port` (IPv6 hosts in brackets); the user and the password never appear
/// in it.
public struct RedisEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// ACL user for `AUTH user password`; `nil` authenticates as the default user.
    public var user: String?
    /// Sent with `AUTH` after connecting when not `nil`.
    public var password: String?

    public init(host: String, port: Int, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
