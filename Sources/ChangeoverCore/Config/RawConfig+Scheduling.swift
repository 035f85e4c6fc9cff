import Foundation

/// The `scheduling:`, `daemon:` and `schedule:` sections and one-off windows.
extension RawConfig {
    struct RawScheduling: Decodable {
        var switchoverEstimate: String?
        var margin: String?
        var throughput: String?
        var minimumLead: String?
        var defaultLead: String?
        var recheckEvery: String?
    }

    struct RawDaemon: Decodable {
        var listen: String?
        var tokenEnv: String?
        var concurrency: Int?
        var tick: String?
    }

    struct RawScheduled: Decodable {
        var database: String
        var image: String
        var deadline: String?
    }

    func resolveScheduling(into config: inout FleetConfig, source: String) throws(ConfigError) {
        let at = "config \(source)"
        if let raw = scheduling {
            var policy = SchedulingPolicy()
            func duration(_ text: String?, _ key: String) throws(ConfigError) -> Duration? {
                try text.map { v throws(ConfigError) in try ConfigValue.duration(v, at: "\(at), scheduling.\(key)") }
            }
            if let v = try duration(raw.switchoverEstimate, "switchoverEstimate") { policy.switchoverEstimate = v }
            if let v = try duration(raw.margin, "margin") { policy.margin = v }
            if let v = try duration(raw.minimumLead, "minimumLead") { policy.minimumLead = v }
            if let v = try duration(raw.defaultLead, "defaultLead") { policy.defaultLead = v }
            if let v = try duration(raw.recheckEvery, "recheckEvery") {
                guard v >= .milliseconds(100) else {
                    throw ConfigError("\(at), scheduling.recheckEvery: at least 100ms")
                }
                policy.recheckEvery = v
            }
            if let text = raw.throughput {
                // "40MB/s" or "40MB": bytes per second.
                let bytes = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
                policy.throughput = try ConfigValue.bytes(bytes, at: "\(at), scheduling.throughput")
                guard policy.throughput > 0 else {
                    throw ConfigError("\(at), scheduling.throughput must be more than 0")
                }
            }
            config.scheduling = policy
        }
        if let raw = daemon {
            var settings = DaemonSettings()
            if let listen = raw.listen {
                guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
                    (0...65535).contains(port)
                else { throw ConfigError("\(at), daemon.listen: \"\(listen)\" is not host:port") }
                let host = String(listen[..<colon])
                guard ["127.0.0.1", "localhost"].contains(host) else {
                    throw ConfigError("\(at), daemon.listen: \(host) is not a loopback address (use 127.0.0.1:PORT)")
                }
                settings.host = "127.0.0.1"
                settings.port = port
            }
            if let name = raw.tokenEnv {
                guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
                    throw ConfigError("\(at), daemon.tokenEnv: \"\(name)\" is not an environment variable name")
                }
                settings.tokenEnvironment = name
            }
            if let concurrency = raw.concurrency {
                guard (1...64).contains(concurrency) else {
                    throw ConfigError("\(at), daemon.concurrency must be 1…64")
                }
                settings.concurrency = concurrency
            }
            if let tick = raw.tick {
                settings.tick = try ConfigValue.duration(tick, at: "\(at), daemon.tick")
                guard settings.tick >= .milliseconds(50) else { throw ConfigError("\(at), daemon.tick: at least 50ms") }
            }
            config.daemon = settings
        }
        for (index, raw) in (schedule ?? []).enumerated() {
            let here = "\(at), schedule[\(index)]"
            guard config.databases[raw.database] != nil else {
                throw ConfigError("\(here): unknown database \"\(raw.database)\"")
            }
            guard config.images[raw.image] != nil else {
                throw ConfigError("\(here): unknown image \"\(raw.image)\"")
            }
            let deadline = try raw.deadline.map { text throws(ConfigError) in
                try ConfigValue.instant(text, at: "\(here), deadline")
            }
            config.scheduled.append(ScheduledChangeover(database: raw.database, image: raw.image, deadline: deadline))
        }
    }

    /// A one-off window: `START for DURATION` or `START..END`, instants in ISO 8601 with an offset.
    static func oneOffWindow(_ text: String, at: String) throws(ConfigError) -> WindowOpening {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let start: Date
        let end: Date
        if let range = trimmed.range(of: " for ") {
            start = try ConfigValue.instant(String(trimmed[..<range.lowerBound]), at: at)
            end = start.addingTimeInterval(
                try ConfigValue.duration(String(trimmed[range.upperBound...]), at: at).seconds)
        } else if let range = trimmed.range(of: "..") {
            start = try ConfigValue.instant(String(trimmed[..<range.lowerBound]), at: at)
            end = try ConfigValue.instant(String(trimmed[range.upperBound...]), at: at)
        } else {
            throw ConfigError(
                "\(at): \"\(text)\" is not a one-off window (use \"2026-05-01T22:00:00Z for 2h\" or \"START..END\")")
        }
        guard end > start else { throw ConfigError("\(at): \"\(text)\" ends before it starts") }
        return WindowOpening(start: start, end: end)
    }
}

extension ConfigValue {
    /// An ISO 8601 instant with its offset: `2026-05-01T22:00:00Z`, `2026-05-01T22:00:00+02:00`.
    public static func instant(_ text: String, at: String) throws(ConfigError) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text.trimmingCharacters(in: .whitespaces)) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text.trimmingCharacters(in: .whitespaces)) { return date }
        throw ConfigError("\(at): \"\(text)\" is not an ISO 8601 instant with an offset (e.g. 2026-05-01T22:00:00Z)")
    }

}
