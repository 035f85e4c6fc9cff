import ChangeoverCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A FAKE Redis server that claims to be version 6.0.16: no Redis older than 6.2 can be
/// installed here, and the controller must refuse one before touching anything. It speaks just
/// enough RESP for a preflight (AUTH, ROLE, INFO, CONFIG GET) on a loopback port, one thread per
/// connection, until `stop()`.
final class FakeOldRedisServer: Sendable {
    let port: Int
    private let listener: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound, listen(fd, 8) == 0 else {
            close(fd)
            throw LabFailure("cannot listen for the fake Redis server")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [fd] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                Thread.detachNewThread { Self.serve(client) }
            }
        }
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func serve(_ fd: Int32) {
        defer { close(fd) }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            while let (command, used) = parse(buffer) {
                buffer.removeFirst(used)
                let reply = answer(command)
                _ = reply.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            }
            let n = read(fd, &chunk, chunk.count)
            if n <= 0 { return }
            buffer += chunk[0..<n]
        }
    }

    private static func answer(_ command: [String]) -> [UInt8] {
        let name = command.first?.uppercased() ?? ""
        let text: String
        switch name {
        case "AUTH", "PING": text = "+OK\r\n"
        case "ROLE": text = "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
        case "INFO":
            let body =
                "# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\n# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n"
            text = "$\(body.utf8.count)\r\n\(body)\r\n"
        case "CONFIG": text = "*0\r\n"
        default: text = "-ERR unknown command '\(name)'\r\n"
        }
        return Array(text.utf8)
    }

    /// One RESP array of bulk strings from the front of `bytes`, and how many bytes it used.
    private static func parse(_ bytes: [UInt8]) -> ([String], Int)? {
        func line(from start: Int) -> (String, Int)? {
            var i = start
            while i + 1 < bytes.count {
                if bytes[i] == 13 && bytes[i + 1] == 10 {
                    return (String(decoding: bytes[start..<i], as: UTF8.self), i + 2)
                }
                i += 1
            }
            return nil
        }
        guard let (header, afterHeader) = line(from: 0), header.hasPrefix("*"), let count = Int(header.dropFirst())
        else { return nil }
        var position = afterHeader
        var items: [String] = []
        for _ in 0..<count {
            guard let (size, afterSize) = line(from: position), size.hasPrefix("$"), let length = Int(size.dropFirst()),
                afterSize + length + 2 <= bytes.count
            else { return nil }
            items.append(String(decoding: bytes[afterSize..<(afterSize + length)], as: UTF8.self))
            position = afterSize + length + 2
        }
        return (items, position)
    }
}

struct LabFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
