/// The one error type of the RedisClient module.
///
/// `description` names the failure, the endpoint (`host:port` only) and a one-line message. It never
/// contains a password: no code path puts one into `message`, and `endpoint` is never built from
/// anything but the host and the port.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    /// What went wrong. Extensible: new codes can be added without breaking callers that switch on
    /// the known ones with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(rawValue: String) {
            self.rawValue = rawValue
        }

        /// The TCP connection could not be established (refused, unresolvable host, …).
        public static let connectionFailed = Code(rawValue: "connectionFailed")
        /// The server rejected `AUTH` (wrong password, unknown or disabled user, no password set).
        public static let authenticationFailed = Code(rawValue: "authenticationFailed")
        /// The call's deadline passed; the connection has been closed.
        public static let timeout = Code(rawValue: "timeout")
        /// The server answered with an error reply; `message` is the server's text. The connection
        /// stays usable.
        public static let serverError = Code(rawValue: "serverError")
        /// The server's reply could not be understood; the connection has been closed.
        public static let protocolError = Code(rawValue: "protocolError")
        /// The connection is closed (by the server, by an I/O error or by `close()`).
        public static let connectionClosed = Code(rawValue: "connectionClosed")

        public var description: String {
            switch self {
            case .connectionFailed: "connection failed"
            case .authenticationFailed: "authentication failed"
            case .timeout: "timed out"
            case .serverError: "server error"
            case .protocolError: "protocol error"
            case .connectionClosed: "connection closed"
            default: rawValue
            }
        }
    }

    public var code: Code
    /// One line. For `.serverError` the server's error text, e.g.
    /// `READONLY You can't write against a read only replica.`
    public var message: String
    /// `host:port` of the server, when known.
    public var endpoint: String?

    public init(code: Code, message: String, endpoint: String?) {
        self.code = code
        self.message = RedisError.oneLine(message)
        self.endpoint = endpoint
    }

    public var description: String {
        if let endpoint {
            return "\(code) at \(endpoint): \(message)"
        }
        return "\(code): \(message)"
    }

    private static func oneLine(_ text: String) -> String {
        guard text.contains(where: \.isNewline) else { return text }
        return text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
