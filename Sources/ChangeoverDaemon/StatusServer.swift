import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal HTTP/1.1 server on a loopback POSIX socket for the daemon's status and metrics:
/// one request per connection (`Connection: close`), GET only, every request must carry
/// `Authorization: Bearer <token>` (401 otherwise) except the few paths `open` answers (the
/// page's static files and the health check, which hold no data). Requests are served one at a time on a
/// thread of its own — never on the cooperative pool — and a client gets 2 s to send its
/// request. The token is compared in constant time and never logged.
public final class StatusServer: Service, Sendable {
    public struct Response: Sendable, Equatable {
        public var status: Int
        public var contentType: String
        public var body: [UInt8]
        /// Headers besides the ones every response carries.
        public var headers: [String: String]

        public init(status: Int, contentType: String, body: [UInt8], headers: [String: String] = [:]) {
            self.status = status
            self.contentType = contentType
            self.body = body
            self.headers = headers
        }

        public static func text(_ status: Int, _ text: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
    }

    /// The port the server listens on (the configured one, or the one the kernel chose for 0).
    public let port: Int
    private let socket: Int32
    private let token: [UInt8]
    private let logger: Logger
    private let handler: @Sendable (_ target: String) -> Response
    private let open: @Sendable (_ path: String) -> Response?
    private let stopped = Mutex(false)
    private let finished = Mutex(false)

    /// Binds and listens at once, so that a port in use fails before the daemon starts anything.
    /// `open` answers the paths served without the token (nil: the token is needed); `handler`
    /// the others, given the request's target (its path and query, `/timeline?offset=100`).
    public init(
        host: String, port: Int, token: String, logger: Logger,
        open: @escaping @Sendable (_ path: String) -> Response? = { _ in nil },
        handler: @escaping @Sendable (_ target: String) -> Response
    ) throws {
        guard !token.isEmpty else { throw ServerError("the bearer token is empty") }
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            close(fd)
            throw ServerError("\(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw ServerError("cannot listen on \(host):\(port): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.socket = fd
        self.token = Array(token.utf8)
        self.logger = logger
        self.handler = handler
        self.open = open
    }

    /// Serves until the service group shuts down gracefully (after the scheduler: the status
    /// stays readable while changeovers finish) or is cancelled.
    public func run() async throws {
        let thread = Thread { [self] in
            serve()
            finished.withLock { $0 = true }
        }
        thread.name = "changeover-http"
        thread.start()
        try? await gracefulShutdown()
        stop()
        while !finished.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// Stops accepting; the serving thread ends within its poll interval.
    public func stop() {
        stopped.withLock { $0 = true }
    }

    private func serve() {
        defer { close(socket) }
        while !stopped.withLock({ $0 }) {
            var ready = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            guard poll(&ready, 1, 100) > 0 else { continue }
            let client = accept(socket, nil, nil)
            guard client >= 0 else { continue }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let response = respond(to: readRequest(client))
            send(response, to: client)
            close(client)
        }
    }

    /// The request head (up to 16 KiB), or nil if the client sent none in time.
    private func readRequest(_ client: Int32) -> String? {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while data.count < 16 * 1024 {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            data.append(contentsOf: buffer[0..<count])
            if data.count >= 4, data.suffix(from: max(0, data.count - count - 3)).containsHeadEnd { break }
        }
        guard !data.isEmpty else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    func respond(to request: String?) -> Response {
        guard let request else { return .text(400, "bad request\n") }
        let lines = request.components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        guard parts.count == 3, parts[2].hasPrefix("HTTP/1.") else { return .text(400, "bad request\n") }
        let method = String(parts[0])
        let path = String(parts[1].split(separator: "?", maxSplits: 1).first ?? "")
        var presented: [UInt8]?
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            guard line[..<colon].trimmingCharacters(in: .whitespaces).lowercased() == "authorization" else { continue }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if value.lowercased().hasPrefix("bearer ") {
                presented = Array(value.dropFirst(7).trimmingCharacters(in: .whitespaces).utf8)
            }
        }
        let response: Response
        if method == "GET", let free = open(path) {
            response = free
        } else if presented.map(authorized) != true {
            response = .text(401, "unauthorized: send Authorization: Bearer <token>\n")
        } else if method != "GET" {
            response = .text(405, "only GET\n")
        } else {
            response = handler(String(parts[1]))
        }
        logger.debug(
            "HTTP request served",
            metadata: ["http.method": "\(method)", "http.path": "\(path)", "http.status": "\(response.status)"])
        return response
    }

    /// Constant-time comparison with the token (its length aside).
    private func authorized(_ presented: [UInt8]) -> Bool {
        guard presented.count == token.count else { return false }
        var difference: UInt8 = 0
        for index in token.indices { difference |= token[index] ^ presented[index] }
        return difference == 0
    }

    /// No inline script or style, no other origin, no plugins, no framing, no form posts.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    private func send(_ response: Response, to client: Int32) {
        let reason =
            [
                200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                500: "Internal Server Error", 503: "Service Unavailable",
            ][response.status] ?? "Status"
        var head =
            "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\n"
            + "Content-Length: \(response.body.count)\r\nConnection: close\r\nCache-Control: no-store\r\n"
        // Every response: the page loads scripts and styles from this origin only, nothing sniffs
        // a type, and nothing frames it or gets a referrer.
        head +=
            "Content-Security-Policy: \(Self.contentSecurityPolicy)\r\nX-Content-Type-Options: nosniff\r\n"
            + "Referrer-Policy: no-referrer\r\nX-Frame-Options: DENY\r\n"
        for (name, value) in response.headers.sorted(by: { $0.key < $1.key }) { head += "\(name): \(value)\r\n" }
        if response.status == 401 { head += "WWW-Authenticate: Bearer realm=\"changeover\"\r\n" }
        if response.status == 405 { head += "Allow: GET\r\n" }
        let bytes = Array((head + "\r\n").utf8) + response.body
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes {
                Glibc.send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            guard count > 0 else { return }
            sent += count
        }
    }
}

public struct ServerError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension ArraySlice<UInt8> {
    /// Whether the bytes hold the blank line that ends an HTTP request head.
    fileprivate var containsHeadEnd: Bool {
        let end: [UInt8] = [13, 10, 13, 10]
        guard count >= 4 else { return false }
        var index = startIndex
        while index + 4 <= endIndex {
            if self[index..<index + 4].elementsEqual(end) { return true }
            index += 1
        }
        return false
    }
}
