import Foundation

/// What a daemon leaves in its state directory after every tick (`daemon.json`), so that
/// `status` can say whether one is running and when it last looked: a scheduled changeover
/// waits for a daemon, and without one it waits for ever.
public struct DaemonHeartbeat: Codable, Sendable, Equatable {
    public var pid: Int32
    public var host: String
    public var actor: String
    /// Seconds between ticks.
    public var tickSeconds: Double
    public var lastTick: Date
    /// Set when it stopped cleanly.
    public var stoppedAt: Date?

    public init(pid: Int32, host: String, actor: String, tickSeconds: Double, lastTick: Date, stoppedAt: Date? = nil) {
        self.pid = pid
        self.host = host
        self.actor = actor
        self.tickSeconds = tickSeconds
        self.lastTick = lastTick
        self.stoppedAt = stoppedAt
    }

    public static func path(stateDirectory: String) -> String { "\(stateDirectory)/daemon.json" }

    /// Replaces the file in one rename.
    public func write(stateDirectory: String) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        try encoder.encode(self).write(
            to: URL(fileURLWithPath: Self.path(stateDirectory: stateDirectory)), options: .atomic)
    }

    public static func read(stateDirectory: String) -> DaemonHeartbeat? {
        guard let data = FileManager.default.contents(atPath: path(stateDirectory: stateDirectory)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(DaemonHeartbeat.self, from: data)
    }

    /// Whether it looks alive at `now`: not stopped, its last tick recent (three ticks and a few
    /// seconds, a tick over a large fleet takes a while), and on this host its process there.
    public func isRunning(at now: Date, thisHost: String = ProcessInfo.processInfo.hostName) -> Bool {
        guard stoppedAt == nil, now.timeIntervalSince(lastTick) < 3 * tickSeconds + 10 else { return false }
        return host != thisHost || kill(pid, 0) == 0 || errno == EPERM
    }

    /// What `status` says of the daemon: `running (…), last tick 2 s ago`, or why none runs.
    public static func describe(stateDirectory: String, now: Date, config: String?) -> String {
        let start = FleetConfig.command(["daemon"], config: config)
        guard let beat = read(stateDirectory: stateDirectory) else {
            return "none has run with this state directory; scheduled changeovers wait for \(start)"
        }
        let ago = ScheduleText.duration(since: beat.lastTick, until: now)
        if beat.isRunning(at: now) {
            return "running (pid \(beat.pid) on \(beat.host)), last tick \(ago) ago"
        }
        let why =
            beat.stoppedAt.map { "stopped at \(ScheduleText.iso($0))" } ?? "not running (its last tick was \(ago) ago)"
        return "\(why); scheduled changeovers wait for \(start)"
    }
}
