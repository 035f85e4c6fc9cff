/// A RESP2 reply, converted from hiredis's `redisReply` tree.
public indirect enum RedisReply: Sendable, Equatable {
    /// A simple string, e.g. `OK` or `PONG`.
    case status(String)
    /// An error reply. A top-level error makes `RedisConnection.command` throw `.serverError`;
    /// this case appears only nested in arrays (e.g. in the reply of `EXEC`).
    case error(String)
    case integer(Int64)
    /// A bulk string: arbitrary bytes.
    case bulk([UInt8])
    /// A nil bulk string or nil array.
    case null
    case array([RedisReply])

    /// A status, a bulk string that is valid UTF-8, or an integer in decimal; otherwise `nil`.
    public var string: String? {
        switch self {
        case .status(let text): text
        case .bulk(let bytes): String(validating: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        case .error, .null, .array: nil
        }
    }

    /// An integer, or a bulk string or status that parses as one; otherwise `nil`.
    public var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .status(let text): Int64(text)
        case .bulk(let bytes): String(validating: bytes, as: UTF8.self).flatMap { Int64($0) }
        case .error, .null, .array: nil
        }
    }

    /// The elements of an array reply; otherwise `nil`.
    public var array: [RedisReply]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}
