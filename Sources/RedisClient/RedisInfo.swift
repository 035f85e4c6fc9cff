/// `INFO` output as "section key" pairs; keys without their section are also present.
///
/// For the line `master_repl_offset:1234` under `# Replication`, `values` holds both
/// `"replication master_repl_offset"` and `"master_repl_offset"`. Section names are lowercased.
/// When two sections share a key, the unqualified key holds the first value.
public struct RedisInfo: Sendable, Equatable {
    public var values: [String: String]

    public init(parsing text: String) {
        var values: [String: String] = [:]
        var section: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let name = line.dropFirst().trimmingWhitespace().lowercased()
                section = name.isEmpty ? nil : name
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon])
            let value = String(line[line.index(after: colon)...])
            if let section {
                values["\(section) \(key)"] = value
            }
            if values[key] == nil {
                values[key] = value
            }
        }
        self.values = values
    }

    public subscript(key: String) -> String? {
        values[key]
    }

    public func integer(_ key: String) -> Int64? {
        values[key].flatMap { Int64($0) }
    }

    /// Replicas listed in INFO replication: `slaveN:ip=…,port=…,state=…,offset=…,lag=…`, ordered
    /// by N. Lines missing a field are skipped.
    public var replicas: [Replica] {
        var numbered: [(Int, Replica)] = []
        for (key, value) in values {
            guard key.hasPrefix("slave"), let number = Int(key.dropFirst("slave".count)),
                let replica = Replica(parsing: value)
            else { continue }
            numbered.append((number, replica))
        }
        return numbered.sorted { $0.0 < $1.0 }.map(\.1)
    }

    public struct Replica: Sendable, Equatable {
        public var ip: String
        public var port: Int
        /// `wait_bgsave`, `send_bulk`, `online`, …
        public var state: String
        public var offset: Int64
        public var lag: Int64

        public init(ip: String, port: Int, state: String, offset: Int64, lag: Int64) {
            self.ip = ip
            self.port = port
            self.state = state
            self.offset = offset
            self.lag = lag
        }

        init?(parsing text: String) {
            var fields: [Substring: Substring] = [:]
            for pair in text.split(separator: ",") {
                guard let equals = pair.firstIndex(of: "=") else { continue }
                fields[pair[..<equals]] = pair[pair.index(after: equals)...]
            }
            guard let ip = fields["ip"], let port = fields["port"].flatMap({ Int($0) }),
                let state = fields["state"], let offset = fields["offset"].flatMap({ Int64($0) }),
                let lag = fields["lag"].flatMap({ Int64($0) })
            else { return nil }
            self.init(ip: String(ip), port: port, state: String(state), offset: offset, lag: lag)
        }
    }

    /// From `redis_version`, e.g. `7.0.15`.
    public var version: (major: Int, minor: Int, patch: Int)? {
        guard let text = values["redis_version"] else { return nil }
        let parts = text.split(separator: ".").map { Int($0) }
        guard parts.count == 3, let major = parts[0], let minor = parts[1], let patch = parts[2]
        else { return nil }
        return (major, minor, patch)
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let start = firstIndex { !$0.isWhitespace } ?? endIndex
        let end = lastIndex { !$0.isWhitespace }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
