/// The one error type of `PostgresClient`.
///
/// `description` is safe to print and log: it never holds a password or a conninfo string,
/// only the endpoint (`host:port`), the server's or libpq's one-line message and the SQLSTATE.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String

        public init(_ rawValue: String) {
            self.rawValue = rawValue
        }

        /// A conninfo string or URL that libpq could not parse.
        public static let badConninfo = Code("badConninfo")
        /// The server could not be reached, or refused the session for a reason other than auth.
        public static let connectionFailed = Code("connectionFailed")
        /// The server rejected the credentials or had no pg_hba entry for them.
        public static let authenticationFailed = Code("authenticationFailed")
        /// The call's deadline passed.
        public static let timeout = Code("timeout")
        /// The calling task was cancelled.
        public static let cancelled = Code("cancelled")
        /// The server answered the query with an error.
        public static let queryFailed = Code("queryFailed")
        /// The connection is gone: closed by us, or lost (server shut down, socket error).
        public static let connectionClosed = Code("connectionClosed")

        public var description: String {
            switch self {
            case .badConninfo: "bad connection info"
            case .connectionFailed: "connection failed"
            case .authenticationFailed: "authentication failed"
            case .timeout: "timed out"
            case .cancelled: "cancelled"
            case .queryFailed: "query failed"
            case .connectionClosed: "connection closed"
            default: rawValue
            }
        }
    }

    public var code: Code
    /// The 5-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    /// The server's primary message or libpq's message, trimmed to one line.
    public var message: String
    /// `host:port` of the server, never a conninfo.
    public var endpoint: String?

    public init(code: Code, message: String, sqlState: String? = nil, endpoint: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.endpoint = endpoint
    }

    public var description: String {
        var text = code.description
        if let endpoint {
            text += " at \(endpoint)"
        }
        text += ": \(message)"
        if let sqlState {
            text += " (SQLSTATE \(sqlState))"
        }
        return text
    }
}
