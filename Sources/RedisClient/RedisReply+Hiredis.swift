import CHiredis

extension RedisReply {
    /// Converts a hiredis reply tree recursively. The caller keeps ownership of `reply` and frees
    /// it with `freeReplyObject`.
    init(converting reply: UnsafePointer<redisReply>) throws(RedisError) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STATUS:
            self = .status(Self.text(node))
        case REDIS_REPLY_ERROR:
            self = .error(Self.text(node))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(node.integer))
        case REDIS_REPLY_NIL:
            self = .null
        case REDIS_REPLY_STRING:
            self = .bulk(Self.bytes(node))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                guard let element = node.element?[index] else {
                    throw RedisError(
                        code: .protocolError, message: "array reply with a missing element",
                        endpoint: nil)
                }
                elements.append(try RedisReply(converting: element))
            }
            self = .array(elements)
        default:
            throw RedisError(
                code: .protocolError, message: "unknown reply type \(node.type)", endpoint: nil)
        }
    }

    private static func bytes(_ node: redisReply) -> [UInt8] {
        guard let str = node.str, node.len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: str, count: node.len))
    }

    private static func text(_ node: redisReply) -> String {
        String(decoding: bytes(node), as: UTF8.self)
    }
}
