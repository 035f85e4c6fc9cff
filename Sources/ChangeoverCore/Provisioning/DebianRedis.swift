import Foundation

/// A Redis instance as Debian's `redis-server` package lays them out: the package's own
/// (`/etc/redis/redis.conf`, unit `redis-server.service`) or a `redis-server@NAME` instance
/// (`/etc/redis/redis-NAME.conf`), each with its pid file under `/run/redis[-NAME]`, its log in
/// `/var/log/redis` and its data in `/var/lib/redis`, run by the unit as user `redis`.
public struct DebianRedis: Sendable, Equatable, CustomStringConvertible {
    /// nil: the package's own instance.
    public var name: String?

    public static let configRoot = "/etc/redis"
    public static let dataDirectory = "/var/lib/redis"
    public static let logRoot = "/var/log/redis"
    /// The user the package's units run Redis as.
    public static let user = "redis"

    public init(name: String?) {
        self.name = name
    }

    private var suffix: String { name.map { "-\($0)" } ?? "" }
    public var configFile: String { "\(Self.configRoot)/redis\(suffix).conf" }
    public var unit: String { name.map { "redis-server@\($0).service" } ?? "redis-server.service" }
    public var runtimeDirectory: String { "/run/redis\(suffix)" }
    public var pidFile: String { "\(runtimeDirectory)/redis-server.pid" }
    public var socket: String { "\(runtimeDirectory)/redis-server.sock" }
    public var logFile: String { "\(Self.logRoot)/redis-server\(suffix).log" }
    public var dumpFile: String { "dump\(suffix).rdb" }
    public var aclFile: String { "\(Self.configRoot)/users\(suffix).acl" }
    public var description: String { unit }

    /// The instance whose configuration file `configFile` is, if it is one of Debian's.
    public static func of(configFile: String) -> DebianRedis? {
        guard configFile.hasPrefix(configRoot + "/"), configFile.hasSuffix(".conf") else { return nil }
        let file = String(configFile.dropFirst(configRoot.count + 1).dropLast(".conf".count))
        if file == "redis" { return DebianRedis(name: nil) }
        guard file.hasPrefix("redis-"), !file.contains("/"), file.count > "redis-".count else { return nil }
        return DebianRedis(name: String(file.dropFirst("redis-".count)))
    }

    /// A `LocalRedis` whose files are this instance's.
    public func server(binDirectory: String, node: String, environment: [String: String]) -> LocalRedis {
        var server = LocalRedis(
            binDirectory: binDirectory, nodeDirectory: node, runAs: Self.user, environment: environment)
        server.configPath = configFile
        server.pidFilePath = pidFile
        server.logPath = logFile
        server.dataDirectory = Self.dataDirectory
        server.ownSettings = [("dbfilename", LocalRedis.quote(dumpFile)), ("unixsocket", LocalRedis.quote(socket))]
        server.runtimeDirectory = runtimeDirectory
        return server
    }
}

/// systemd's view of a service, through `systemctl`, which enables and disables units (their
/// symlinks under /etc/systemd/system) whether or not systemd runs as PID 1.
public enum SystemdService {
    /// Whether systemd runs this machine (it starts and stops services); where it does not, servers
    /// are started directly and units are only enabled or disabled for the next boot.
    public static var isRunning: Bool { FileManager.default.fileExists(atPath: "/run/systemd/system") }

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/bin/systemctl") }

    /// `systemctl enable|disable|stop UNIT`.
    public static func run(_ verb: String, _ unit: String) async throws {
        let outcome = try await Subprocess.run(["systemctl", verb, unit], timeout: .seconds(60))
        guard outcome.succeeded else {
            throw ProvisionError("systemctl \(verb) \(unit) failed: \(outcome.lastErrorLine)")
        }
    }

    /// `systemctl is-enabled UNIT`: "enabled", "disabled", …; nil when systemctl cannot tell.
    public static func state(_ unit: String) async -> String? {
        guard let outcome = try? await Subprocess.run(["systemctl", "is-enabled", unit], timeout: .seconds(30)) else {
            return nil
        }
        let word = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return word.isEmpty ? nil : word
    }

    /// The service unit a process runs in, from its cgroup (`0::/system.slice/postgresql@15-main.service`).
    public static func unit(ofProcess pid: Int32) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            guard let path = line.split(separator: ":", maxSplits: 2).last else { continue }
            if let unit = path.split(separator: "/").last(where: { $0.hasSuffix(".service") }) { return String(unit) }
        }
        return nil
    }
}
