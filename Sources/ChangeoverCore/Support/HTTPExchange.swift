import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP/1.1 exchange on a unix socket (the Docker engine) or a TCP address (a notification
/// webhook): connect, write the request (`Connection: close`), read until the server closes.
/// The blocking calls run on a thread of their own (a request may wait minutes: a container's
/// exit, an exec's output), never on the cooperative pool; `poll(2)` bounds every wait by the
/// deadline (a host name's lookup excepted), and cancelling the task shuts the socket down.
enum HTTPExchange {
    /// Where the server listens.
    enum Target: Sendable {
        case unix(String)
        case tcp(host: String, port: Int)

        var name: String {
            switch self {
            case .unix(let path): path
            case .tcp(let host, let port): "\(host.contains(":") ? "[\(host)]" : host):\(port)"
            }
        }
    }

    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    /// A failure below HTTP: nothing listening at the socket, a deadline passed, a garbled reply.
    struct Failure: Error, Sendable {
        enum Kind: Sendable { case unreachable, timeout, cancelled, malformed }
        var kind: Kind
        var message: String
    }

    /// The largest reply read (an exec's or a log's output included); more is an error.
    static let replyLimit = 64 << 20

    static func exchange(socket path: String, request: [UInt8], timeout: Duration) async throws(Failure) -> Response {
        try await exchange(.unix(path), request: request, timeout: timeout)
    }

    static func exchange(_ target: Target, request: [UInt8], timeout: Duration) async throws(Failure) -> Response {
        let call = Call()
        let deadline = ContinuousClock.now + timeout
        let raw: Result<[UInt8], Failure> = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Result<[UInt8], Failure>, Never>) in
                let thread = Thread {
                    do throws(Failure) {
                        continuation.resume(
                            returning: .success(
                                try call.run(
                                    target: target, request: request,
                                    deadline: deadline, timeout: timeout)))
                    } catch {
                        continuation.resume(returning: .failure(error))
                    }
                }
                thread.name = "changeover HTTP"
                thread.start()
            }
        } onCancel: {
            call.cancel()
        }
        return try parse(try raw.get())
    }

    /// The socket of one exchange, shut down from another thread on cancellation.
    final class Call: Sendable {
        private let state = Mutex<(fd: Int32, cancelled: Bool)>((-1, false))

        func cancel() {
            state.withLock { state in
                state.cancelled = true
                if state.fd >= 0 { shutdown(state.fd, Int32(SHUT_RDWR)) }
            }
        }

        func run(target: Target, request: [UInt8], deadline: ContinuousClock.Instant, timeout: Duration) throws(Failure)
            -> [UInt8]
        {
            let path = target.name
            var storage = sockaddr_storage()
            var length: socklen_t
            var family: Int32
            switch target {
            case .unix(let socketPath):
                var address = sockaddr_un()
                address.sun_family = sa_family_t(AF_UNIX)
                let capacity = MemoryLayout.size(ofValue: address.sun_path)
                let bytes = Array(socketPath.utf8)
                guard bytes.count < capacity else {
                    throw Failure(kind: .unreachable, message: "the socket path \(socketPath) is too long")
                }
                withUnsafeMutableBytes(of: &address.sun_path) { raw in
                    raw.copyBytes(from: bytes)
                    raw[bytes.count] = 0
                }
                withUnsafeBytes(of: address) { raw in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: raw) }
                }
                length = socklen_t(MemoryLayout<sockaddr_un>.size)
                family = AF_UNIX
            case .tcp(let host, let port):
                (storage, length) = try Self.resolve(host: host, port: port)
                family = Int32(storage.ss_family)
            }
            let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else {
                throw Failure(
                    kind: .unreachable, message: "cannot create a socket: \(String(cString: strerror(errno)))")
            }
            let cancelledBefore = state.withLock { state in
                state.fd = fd
                return state.cancelled
            }
            defer {
                state.withLock { state in
                    close(fd)
                    state.fd = -1
                }
            }
            if cancelledBefore { throw Failure(kind: .cancelled, message: "cancelled") }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            let connected = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
            }
            if connected != 0 {
                guard errno == EINPROGRESS || errno == EAGAIN else {
                    throw Failure(
                        kind: .unreachable, message: "cannot connect to \(path): \(String(cString: strerror(errno)))")
                }
                try wait(fd, for: Int16(POLLOUT), until: deadline, timeout: timeout)
                var error: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0, error != 0 {
                    throw Failure(
                        kind: .unreachable, message: "cannot connect to \(path): \(String(cString: strerror(error)))")
                }
            }
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    sent += n
                } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                    try wait(fd, for: Int16(POLLOUT), until: deadline, timeout: timeout)
                } else {
                    throw Failure(
                        kind: state.withLock { $0.cancelled } ? .cancelled : .unreachable,
                        message: "cannot send to \(path): \(String(cString: strerror(errno)))")
                }
            }
            var reply: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n > 0 {
                    reply += buffer[..<n]
                    guard reply.count <= HTTPExchange.replyLimit else {
                        throw Failure(
                            kind: .malformed, message: "the reply exceeds \(HTTPExchange.replyLimit >> 20) MB")
                    }
                } else if n == 0 {
                    if state.withLock({ $0.cancelled }) { throw Failure(kind: .cancelled, message: "cancelled") }
                    return reply
                } else if errno == EAGAIN || errno == EINTR {
                    try wait(fd, for: Int16(POLLIN), until: deadline, timeout: timeout)
                } else {
                    throw Failure(
                        kind: state.withLock { $0.cancelled } ? .cancelled : .unreachable,
                        message: "the connection to \(path) failed: \(String(cString: strerror(errno)))")
                }
            }
        }

        /// The first address `host` resolves to (a numeric address needs no lookup).
        private static func resolve(host: String, port: Int) throws(Failure) -> (sockaddr_storage, socklen_t) {
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &list)
            defer { if let list { freeaddrinfo(list) } }
            guard rc == 0, let first = list, let address = first.pointee.ai_addr else {
                throw Failure(
                    kind: .unreachable, message: "cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
            }
            var storage = sockaddr_storage()
            let length = first.pointee.ai_addrlen
            withUnsafeMutableBytes(of: &storage) {
                $0.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
            }
            return (storage, length)
        }

        private func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant, timeout: Duration)
            throws(Failure)
        {
            while true {
                if state.withLock({ $0.cancelled }) { throw Failure(kind: .cancelled, message: "cancelled") }
                let left = deadline - ContinuousClock.now
                guard left > .zero else {
                    throw Failure(kind: .timeout, message: "no answer within \(timeout.seconds) s")
                }
                var pfd = pollfd(fd: fd, events: events, revents: 0)
                let rc = poll(&pfd, 1, Int32(min(max(left.milliseconds.rounded(.up), 1), 1000)))
                if rc > 0 { return }
                if rc < 0 && errno != EINTR {
                    throw Failure(kind: .unreachable, message: "poll failed: \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// Splits a reply into status, headers (lower-cased names) and body (chunked encoding undone).
    static func parse(_ raw: [UInt8]) throws(Failure) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = raw.firstRange(of: separator) else {
            throw Failure(
                kind: .malformed,
                message: raw.isEmpty
                    ? "the server closed the connection without a reply"
                    : "a reply without a header")
        }
        let head = String(decoding: raw[..<end.lowerBound], as: UTF8.self).split(
            separator: "\r\n", omittingEmptySubsequences: false)
        let statusParts = head.first?.split(separator: " ") ?? []
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw Failure(kind: .malformed, message: "not an HTTP reply")
        }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        var body = Array(raw[end.upperBound...])
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            body = try dechunk(body)
        } else if let length = headers["content-length"].flatMap(Int.init), length <= body.count {
            body = Array(body[..<length])
        }
        return Response(status: status, headers: headers, body: body)
    }

    static func dechunk(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard let lineEnd = bytes[index...].firstRange(of: [13, 10]) else { break }
            let sizeText =
                String(decoding: bytes[index..<lineEnd.lowerBound], as: UTF8.self)
                .split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int(sizeText, radix: 16) else {
                throw Failure(kind: .malformed, message: "a bad chunk size")
            }
            if size == 0 { break }
            let start = lineEnd.upperBound
            guard start + size <= bytes.count else { throw Failure(kind: .malformed, message: "a truncated chunk") }
            out += bytes[start..<start + size]
            index = start + size + 2
        }
        return out
    }
}
