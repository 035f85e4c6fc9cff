import ChangeoverCore
import Foundation
import PostgresClient

/// The acknowledged-writes probe: inserts 1, 2, 3 … one transaction each, as fast as the server
/// takes them, and remembers every insert the server acknowledged and when. Across a changeover
/// it reconnects through a multi-host conninfo (target_session_attrs=read-write), so the longest
/// gap between two acknowledgements is the write pause a client saw.
public actor AckedWriter: WriteProbe {
    public typealias Report = WriteProbeReport

    public static let table = "acked_writes"
    private let conninfo: ConnInfo
    private var acknowledged: [Int64] = []
    private var ackTimes: [ContinuousClock.Instant] = []
    private var errors = 0
    private var reconnects = 0
    private var stopping = false
    private var loop: Task<Void, Never>?

    /// `conninfo` must carry the password; it is never printed.
    public init(conninfo: ConnInfo) {
        self.conninfo = conninfo
    }

    /// Creates the probe's table on `connection` (the primary).
    public static func prepare(on connection: PostgresConnection) async throws {
        _ = try await connection.simpleQuery(
            "CREATE TABLE IF NOT EXISTS \(table) (seq bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())",
            timeout: .seconds(10))
    }

    public func start() {
        guard loop == nil else { return }
        stopping = false
        loop = Task { await self.run() }
    }

    /// Waits until at least `count` more writes were acknowledged.
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

    /// The longest time between two consecutive acknowledgements after `instant`, in milliseconds:
    /// the write pause of a changeover that started then.
    public func longestGap(since instant: ContinuousClock.Instant) -> Double {
        WriteProbeMath.longestGap(ackTimes, since: instant)
    }

    /// The writes acknowledged until now; the writer keeps going.
    public func acknowledgedSoFar() -> [Int64] { acknowledged }

    public func stop() async -> Report {
        stopping = true
        await loop?.value
        loop = nil
        return Report(
            acknowledged: acknowledged, errors: errors, reconnects: reconnects,
            longestGapMilliseconds: WriteProbeMath.longestGap(ackTimes, since: nil))
    }

    private func run() async {
        var connection: PostgresConnection?
        var seq: Int64 = 0
        while !stopping {
            if connection == nil {
                do {
                    connection = try await PostgresConnection.connect(conninfo, timeout: .seconds(2))
                    reconnects += 1
                } catch {
                    errors += 1
                    try? await Task.sleep(for: .milliseconds(2))
                    continue
                }
            }
            seq += 1
            do {
                _ = try await connection!.query(
                    "INSERT INTO \(Self.table) (seq) VALUES ($1)", [String(seq)],
                    timeout: .seconds(5))
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

    /// The acknowledged writes that are not in `connection`'s database.
    public static func missing(_ acknowledged: [Int64], on connection: PostgresConnection) async throws -> [Int64] {
        let result = try await connection.query("SELECT seq::text FROM \(table)", timeout: .seconds(60))
        let present = Set(result.rows.compactMap { $0[0].flatMap { Int64($0) } })
        return acknowledged.filter { !present.contains($0) }
    }
}
