import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Moves a HAProxy backend server to the new primary over HAProxy's runtime API
/// (`stats socket PATH level admin`): `set server BE/SRV addr IP port P` sends new connections
/// there, then `shutdown sessions server BE/SRV` cuts the clients still attached to the old
/// primary so they reconnect. HAProxy cannot hold clients, so pause and resume do nothing: clients
/// see errors between the fence and the repoint and must reconnect.
public struct HAProxyRouter: Router {
    /// The runtime API's unix socket.
    public var socket: String
    public var backend: String
    public var server: String
    /// The deadline of one runtime API command.
    public var timeout: Duration

    public init(socket: String, backend: String, server: String, timeout: Duration) {
        self.socket = socket
        self.backend = backend
        self.server = server
        self.timeout = timeout
    }

    public func pause(database: String) async throws {}
    public func resume(database: String) async throws {}

    /// `show servers state BACKEND`: the server exists and sends clients to the primary.
    public func check(database: String, primary: Endpoint) async -> PreflightCheck {
        let target = "\(backend)/\(server)"
        let reply: String
        do {
            reply = try await command("show servers state \(backend)")
        } catch {
            return PreflightCheck("router", passed: false, "haproxy: \(error)")
        }
        let lines = reply.split(separator: "\n").map(String.init)
        guard
            let header = lines.first(where: { $0.hasPrefix("# be_id") })?.dropFirst(2).split(separator: " ").map(
                String.init),
            let nameColumn = header.firstIndex(of: "srv_name"), let addressColumn = header.firstIndex(of: "srv_addr"),
            let portColumn = header.firstIndex(of: "srv_port")
        else {
            return PreflightCheck(
                "router", passed: false, "haproxy has no backend \(backend): \(Self.firstLine(reply))")
        }
        guard
            let row = lines.filter({ !$0.hasPrefix("#") }).map({ $0.split(separator: " ").map(String.init) })
                .first(where: { $0.count > max(nameColumn, addressColumn, portColumn) && $0[nameColumn] == server })
        else {
            return PreflightCheck("router", passed: false, "haproxy's backend \(backend) has no server \(server)")
        }
        let address = (try? await Self.resolve(primary.host)) ?? primary.host
        guard row[addressColumn] == address, row[portColumn] == String(primary.port) else {
            return PreflightCheck(
                "router", passed: false,
                "haproxy sends \(target) to \(row[addressColumn]):\(row[portColumn]), not to the primary \(primary)")
        }
        return PreflightCheck("router", passed: true, "haproxy: \(target) sends clients to \(primary)")
    }

    public func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws {
        let target = "\(backend)/\(server)"
        let address = try await Self.resolve(endpoint.host)
        let moved = try await command("set server \(target) addr \(address) port \(endpoint.port)")
        // "… port changed from '5432' to '5433' by 'stats socket command'", or "no need to change …"
        guard moved.contains("change") else {
            throw RouterError(description: "haproxy refused to move \(target) to \(endpoint): \(Self.firstLine(moved))")
        }
        let cut = try await command("shutdown sessions server \(target)")
        guard cut.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw RouterError(description: "haproxy refused to cut the sessions of \(target): \(Self.firstLine(cut))")
        }
    }

    /// Sends one command and returns the whole reply (the socket closes after it).
    func command(_ line: String) async throws -> String {
        try await HAProxyRuntimeSocket.send(line, to: socket, timeout: timeout)
    }

    /// `set server … addr` takes an IP address; a host name is resolved here, off the cooperative pool.
    static func resolve(_ host: String) async throws -> String {
        var probe = in_addr()
        var probe6 = in6_addr()
        if inet_pton(AF_INET, host, &probe) == 1 || inet_pton(AF_INET6, host, &probe6) == 1 { return host }
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var list: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else {
                    continuation.resume(throwing: RouterError(description: "cannot resolve \(host) for haproxy"))
                    return
                }
                defer { freeaddrinfo(list) }
                var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                getnameinfo(
                    first.pointee.ai_addr, first.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                    NI_NUMERICHOST)
                let numeric = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
                continuation.resume(returning: String(decoding: numeric, as: UTF8.self))
            }
        }
    }

    static func firstLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).first.map(String.init) ?? "(empty reply)"
    }
}

/// One request on HAProxy's runtime API socket: connect, write the command and a newline, read
/// until HAProxy closes the connection. The blocking calls run on a dispatch queue, never on the
/// cooperative pool, and `poll(2)` bounds every wait by the deadline.
enum HAProxyRuntimeSocket {
    static func send(_ command: String, to path: String, timeout: Duration) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    continuation.resume(
                        returning: try exchange(command, path: path, deadline: deadline, timeout: timeout))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
        }
    }

    private static func exchange(_ command: String, path: String, deadline: ContinuousClock.Instant, timeout: Duration)
        throws(RouterError) -> String
    {
        func failure(_ what: String) -> RouterError {
            RouterError(description: "haproxy's runtime API at \(path): \(what)", transient: true)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else {
            throw RouterError(description: "haproxy's runtime API at \(path): the socket path is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw failure("cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 {
            guard errno == EINPROGRESS || errno == EAGAIN else {
                throw failure("cannot connect: \(String(cString: strerror(errno)))")
            }
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else {
                throw failure("no connection within \(timeout.seconds) s")
            }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw failure("cannot connect: \(String(cString: strerror(error)))") }
        }
        let request = Array((command + "\n").utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { sendBytes(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                sent += n
                continue
            }
            guard n < 0, errno == EAGAIN || errno == EINTR else {
                throw failure("cannot send: \(String(cString: strerror(errno)))")
            }
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else {
                throw failure("no reply within \(timeout.seconds) s")
            }
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                reply += buffer[..<n]
                continue
            }
            if n == 0 { break }
            guard errno == EAGAIN || errno == EINTR else {
                throw failure("cannot read: \(String(cString: strerror(errno)))")
            }
            guard wait(fd, for: Int16(POLLIN), until: deadline) else {
                throw failure("no reply within \(timeout.seconds) s")
            }
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Waits until `fd` is ready for `events` or the deadline passes.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - .now
            guard left > .zero else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&entry, 1, Int32(max(1, min(left.milliseconds.rounded(.up), 60_000))))
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return false }
        }
    }
}

private func sendBytes(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    send(fd, buffer, count, Int32(MSG_NOSIGNAL))
}
