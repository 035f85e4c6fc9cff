import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// INFO and ROLE against real servers, including a real primary/replica pair.
@Suite(.serialized)
struct RedisReplicationTests {
    let timeout: Duration = .seconds(2)

    @Test func infoReplicationOfAStandaloneServerIsParsed() async throws {
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            _ = try await connection.command(["SET", "k", "v"], timeout: timeout)
            let reply = try await connection.command(["INFO", "replication"], timeout: timeout)
            let info = RedisInfo(parsing: try #require(reply.string))
            #expect(info["role"] == "master")
            #expect(info["replication role"] == "master")
            #expect(info.integer("connected_slaves") == 0)
            #expect(info.integer("master_repl_offset") != nil)
            #expect(info.replicas.isEmpty)
            #expect(info.values.keys.allSatisfy { !$0.hasPrefix("#") })

            let role = try RedisRole(try await connection.command(["ROLE"], timeout: timeout))
            guard case .master(_, let replicas) = role else {
                Issue.record("expected master, got \(role)")
                return
            }
            #expect(replicas.isEmpty)
        }
    }

    @Test func infoServerVersionMatchesTheInstalledBinary() async throws {
        let installed = try await installedRedisVersion()
        try await LabRedis.with { server in
            let connection = try await RedisConnection.connect(server.endpoint, timeout: timeout)
            defer { connection.close() }
            let reply = try await connection.command(["INFO", "server"], timeout: timeout)
            let info = RedisInfo(parsing: try #require(reply.string))
            let version = try #require(info.version)
            #expect("\(version.major).\(version.minor).\(version.patch)" == installed)
            #expect(version.major >= 7)
            #expect(info.integer("tcp_port") == Int64(server.port))
            #expect(info["server tcp_port"] == "\(server.port)")
        }
    }

    @Test func replicaAndPrimaryReportEachOtherOnceConnected() async throws {
        try await LabRedis.with([("repl-diskless-sync-delay", "0")]) { primary in
            try await LabRedis.with([("replicaof", "127.0.0.1 \(primary.port)")]) { replica in
                let onPrimary = try await RedisConnection.connect(primary.endpoint, timeout: timeout)
                defer { onPrimary.close() }
                let onReplica = try await RedisConnection.connect(replica.endpoint, timeout: timeout)
                defer { onReplica.close() }

                let linked = try await eventually(within: .seconds(10)) {
                    let role = try RedisRole(try await onReplica.command(["ROLE"], timeout: timeout))
                    guard case .replica(_, _, "connected", _) = role else { return false }
                    let info = RedisInfo(
                        parsing: try await onPrimary.command(["INFO", "replication"], timeout: timeout)
                            .string ?? "")
                    return info.replicas.first?.state == "online"
                }
                try #require(linked, "the replica did not come online within 10 s")

                // A write on the primary reaches the replica.
                _ = try await onPrimary.command(["SET", "replicated", "yes"], timeout: timeout)
                let arrived = try await eventually(within: .seconds(5)) {
                    try await onReplica.command(["GET", "replicated"], timeout: timeout).string == "yes"
                }
                #expect(arrived)

                let replicaRole = try RedisRole(try await onReplica.command(["ROLE"], timeout: timeout))
                guard case .replica(let host, let port, let state, let offset) = replicaRole else {
                    Issue.record("expected replica, got \(replicaRole)")
                    return
                }
                #expect(host == "127.0.0.1")
                #expect(port == primary.port)
                #expect(state == "connected")
                #expect(offset > 0)

                let primaryRole = try RedisRole(try await onPrimary.command(["ROLE"], timeout: timeout))
                guard case .master(let primaryOffset, let replicas) = primaryRole else {
                    Issue.record("expected master, got \(primaryRole)")
                    return
                }
                #expect(primaryOffset > 0)
                #expect(replicas.count == 1)
                #expect(replicas.first?.host == "127.0.0.1")
                #expect(replicas.first?.port == replica.port)

                let info = RedisInfo(
                    parsing: try #require(
                        try await onPrimary.command(["INFO", "replication"], timeout: timeout).string))
                #expect(info["role"] == "master")
                #expect(info.integer("connected_slaves") == 1)
                #expect(info.replicas.count == 1)
                #expect(info.replicas.first?.ip == "127.0.0.1")
                #expect(info.replicas.first?.port == replica.port)
                #expect(info.replicas.first?.state == "online")
                #expect((info.integer("master_repl_offset") ?? 0) >= primaryOffset)

                let replicaInfo = RedisInfo(
                    parsing: try #require(
                        try await onReplica.command(["INFO", "replication"], timeout: timeout).string))
                #expect(replicaInfo["role"] == "slave")
                #expect(replicaInfo["master_link_status"] == "up")
                #expect(replicaInfo.integer("master_port") == Int64(primary.port))

                // The replica refuses writes with the server's READONLY message.
                let error = await #expect(throws: RedisError.self) {
                    try await onReplica.command(["SET", "x", "1"], timeout: timeout)
                }
                #expect(error?.code == .serverError)
                #expect(error?.message == "READONLY You can't write against a read only replica.")
            }
        }
    }

    /// `redis-server --version` prints e.g. `Redis server v=7.0.15 sha=… malloc=… bits=64 build=…`.
    private func installedRedisVersion() async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(Lab.redisBinDirectory)/redis-server")
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        let text = String(decoding: output, as: UTF8.self)
        let field = try #require(text.split(separator: " ").first { $0.hasPrefix("v=") })
        return String(field.dropFirst(2))
    }
}
