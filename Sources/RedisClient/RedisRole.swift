/// The reply of `ROLE`.
public enum RedisRole: Sendable, Equatable {
    /// One replica as listed by `ROLE` on a master.
    public struct ReplicaEntry: Sendable, Equatable {
        public var host: String
        public var port: Int
        /// The replication offset the replica last acknowledged.
        public var offset: Int64

        public init(host: String, port: Int, offset: Int64) {
            self.host = host
            self.port = port
            self.offset = offset
        }
    }

    case master(offset: Int64, replicas: [ReplicaEntry])
    /// `state` is the server's word: `connect`, `connecting`, `handshake`, `sync`, `connected`.
    /// `offset` is -1 before the first sync.
    case replica(masterHost: String, masterPort: Int, state: String, offset: Int64)
    case sentinel

    /// Parses a `ROLE` reply; anything else throws `.protocolError` (or `.serverError` for an
    /// error reply).
    public init(_ reply: RedisReply) throws(RedisError) {
        if case .error(let message) = reply {
            throw RedisError(code: .serverError, message: message, endpoint: nil)
        }
        guard let elements = reply.array, let kind = elements.first?.string else {
            throw Self.unexpected(reply)
        }
        switch kind {
        case "master":
            guard elements.count >= 3, let offset = elements[1].integer,
                let listed = elements[2].array
            else { throw Self.unexpected(reply) }
            var replicas: [ReplicaEntry] = []
            for entry in listed {
                guard let fields = entry.array, fields.count >= 3, let host = fields[0].string,
                    let port = fields[1].integer, let replicaOffset = fields[2].integer
                else { throw Self.unexpected(reply) }
                replicas.append(ReplicaEntry(host: host, port: Int(port), offset: replicaOffset))
            }
            self = .master(offset: offset, replicas: replicas)
        case "slave", "replica":
            guard elements.count >= 5, let host = elements[1].string,
                let port = elements[2].integer, let state = elements[3].string,
                let offset = elements[4].integer
            else { throw Self.unexpected(reply) }
            self = .replica(masterHost: host, masterPort: Int(port), state: state, offset: offset)
        case "sentinel":
            self = .sentinel
        default:
            throw Self.unexpected(reply)
        }
    }

    private static func unexpected(_ reply: RedisReply) -> RedisError {
        RedisError(code: .protocolError, message: "unexpected ROLE reply", endpoint: nil)
    }
}
