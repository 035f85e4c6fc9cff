import ChangeoverCore
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The follower port check binds as the servers do (SO_REUSEADDR): a port a server closed a
/// moment ago, held only by a connection in TIME_WAIT, is free; a port a server listens on is not.
@Suite struct FreePortTests {
    static func socketAddress(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return address
    }

    static func bind(_ fd: Int32, _ port: Int) -> Int32 {
        var address = socketAddress(port)
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    static func connect(_ fd: Int32, _ port: Int) -> Int32 {
        var address = socketAddress(port)
        return withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
    }

    @Test func aPortInTimeWaitIsFreeAndAListenedPortIsNot() throws {
        let port = FreePort.next()
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var on: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        try #require(Self.bind(listener, port) == 0 && listen(listener, 1) == 0)
        #expect(!FreePort.isFree(port), "a port a server listens on counted as free")

        // A connection the server side closes first: that side's socket stays in TIME_WAIT.
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(Self.connect(client, port) == 0)
        let accepted = accept(listener, nil, nil)
        try #require(accepted >= 0)
        close(accepted)
        close(listener)
        usleep(100_000)
        close(client)

        // Without SO_REUSEADDR the port is still taken (the state this test needs)…
        let plain = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(plain) }
        #expect(Self.bind(plain, port) != 0 && errno == EADDRINUSE, "no TIME_WAIT was left on the port")
        // …and a server, which binds with it, can listen there: the check says free.
        #expect(FreePort.isFree(port))
    }
}
