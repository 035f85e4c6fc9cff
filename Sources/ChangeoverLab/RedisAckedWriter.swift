import ChangeoverCore
import Foundation
import RedisClient

/// The acknowledged-writes probe for Redis: `SADD acked_writes <seq>`, one command each, as fast
/// as the server takes them, remembering every one the server acknowledged and when. On an
/// error it reconnects to whichever of its endpoints is a master (ROLE), the way a client that
/// follows the primary does, so the longest gap between acknowledgements is the pause it saw.
public actor RedisAckedWriter: WriteProbe {
    public static let key = "acked_writes"
    private let endpoints: [RedisEndpoint]
    private var acknowledged: [Int64] = []
    private var ackTimes: [ContinuousClock.Instant] = []
    private var errors = 0
    private var reconnects = 0
    private var stopping = false
    private var loop: Task<Void, Never>?

    public init(endpoints: [RedisEndpoint]) {
        self.endpoints = endpoints
    }

    public func start() {
        guard loop == nil else { return }
        stopping = false
        loop = Task { await self.run() }
    }

    public func waitForAcknowledgements(_ count: Int, timeout: Duration) async throws {
        let target = acknowledged.count + count
        let deadline = ContinuousClock.now + timeout
        while acknowledged.count < target {
            if ContinuousClock.now >= deadline {
                throw LabError("the writer got fewer than \(count) acknowledgements in \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    public func acknowledgedSoFar() -> [Int64] { acknowledged }

    public func longestGap(since instant: ContinuousClock.Instant) -> Double {
        WriteProbeMath.longestGap(ackTimes, since: instant)
    }

    public func stop() async -> WriteProbeReport {
        stopping = true
        await loop?.value
        loop = nil
        return WriteProbeReport(
            acknowledged: acknowledged, errors: errors, reconnects: reconnects,
            longestGapMilliseconds: WriteProbeMath.longestGap(ackTimes, since: nil))
    }

    private func connectToMaster() async -> RedisConnection? {
        for endpoint in endpoints {
            guard let connection = try? await RedisConnection.connect(endpoint, timeout: .seconds(1)) else { continue }
            if let reply = try? await connection.command(["ROLE"], timeout: .seconds(1)),
                case .master = try? RedisRole(reply)
            {
                return connection
            }
            connection.close()
        }
        return nil
    }

    private func run() async {
        var connection: RedisConnection?
        var seq: Int64 = 0
        while !stopping {
            if connection == nil {
                connection = await connectToMaster()
                if connection == nil {
                    errors += 1
                    try? await Task.sleep(for: .milliseconds(1))
                    continue
                }
                reconnects += 1
            }
            seq += 1
            do {
                _ = try await connection!.command(["SADD", Self.key, String(seq)], timeout: .seconds(10))
                acknowledged.append(seq)
                ackTimes.append(.now)
            } catch {
                errors += 1
                connection?.close()
                connection = nil
            }
        }
        connection?.close()
    }

    /// The acknowledged writes that are not on the server behind `endpoint`.
    public static func missing(_ acknowledged: [Int64], on endpoint: RedisEndpoint) async throws -> [Int64] {
        let connection = try await RedisConnection.connect(endpoint, timeout: .seconds(5))
        defer { connection.close() }
        let members = try await connection.command(["SMEMBERS", key], timeout: .seconds(60)).array ?? []
        let present = Set(members.compactMap { $0.string.flatMap { Int64($0) } })
        return acknowledged.filter { !present.contains($0) }
    }
}
