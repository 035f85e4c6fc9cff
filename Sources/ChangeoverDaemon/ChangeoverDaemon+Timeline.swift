import ChangeoverCore
import Foundation

/// `GET /timeline` (the page's next 14 days) and `GET /changeovers/ID/audit`.
extension ChangeoverDaemon {
    /// The next `days` days of every database: when its windows open (freezes applied), its
    /// freezes, and when its scheduled changeovers provision and switch as last planned.
    public struct Timeline: Encodable, Sendable {
        public struct Span: Encodable, Sendable {
            public var start: Date
            public var end: Date
            public var reason: String?
        }

        public struct Planned: Encodable, Sendable {
            public var id: String
            /// When provisioning starts (nil: no window will fit).
            public var provisionAt: Date?
            /// When the switchover is planned: the window that fits, else the deadline.
            public var switchAt: Date?
        }

        public struct Row: Encodable, Sendable {
            public var database: String
            public var engine: String
            public var image: String
            public var openings: [Span]
            public var freezes: [Span]
            public var planned: [Planned]
        }

        public var from: Date
        public var to: Date
        /// The rows of the databases from `offset` (by name), at most `limit` of `total`.
        public var offset: Int
        public var limit: Int
        public var total: Int
        public var databases: [Row]
    }

    /// Which rows `GET /timeline` answers: `?offset=N&limit=M` (a fleet of 10,000 databases is
    /// not sent whole; the page asks for more rows when told to).
    public struct TimelinePage: Sendable, Equatable {
        public static let defaultLimit = 200
        public static let maximum = 2000
        public var offset = 0
        public var limit = defaultLimit

        public init(offset: Int = 0, limit: Int = defaultLimit) {
            self.offset = offset
            self.limit = limit
        }

        /// Nil when a parameter is not a whole number in range; other parameters are ignored.
        public init?(query: String) {
            for pair in query.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                switch parts[0] {
                case "offset":
                    guard let value = Int(parts[1]), value >= 0 else { return nil }
                    offset = value
                case "limit":
                    guard let value = Int(parts[1]), (1...Self.maximum).contains(value) else { return nil }
                    limit = value
                default: continue
                }
            }
        }
    }

    public static let timelineDays = 14

    public func timeline(now: Date = Date(), page: TimelinePage = TimelinePage()) -> Timeline {
        let (config, plans) = state.withLock { ($0.config, $0.planCache) }
        let end = now.addingTimeInterval(Double(Self.timelineDays) * 86_400)
        var planned: [String: [Timeline.Planned]] = [:]
        for (id, made) in plans {
            let switchAt: Date? =
                switch made.plan.decision {
                case .open: now
                case .forced: now
                case .wait(let until, let opening, _): opening?.start ?? until
                case .never: nil
                }
            planned[made.database, default: []].append(
                .init(id: id, provisionAt: made.plan.startAt, switchAt: switchAt))
        }
        let sorted = config.databases.values.sorted { $0.name < $1.name }
        let shown = sorted.dropFirst(page.offset).prefix(page.limit)
        let rows = shown.map { database in
            let openings = config.schedule(for: database).openings(after: now, count: 64).prefix { $0.start < end }
                .map { Timeline.Span(start: $0.start, end: min($0.end, end), reason: nil) }
            let freezes = (config.freezes + database.freezes).filter { $0.start < end && $0.end > now }
                .map { Timeline.Span(start: max($0.start, now), end: min($0.end, end), reason: $0.reason) }
                .sorted { $0.start < $1.start }
            return Timeline.Row(
                database: database.name, engine: database.engine.rawValue, image: database.image,
                openings: Array(openings), freezes: freezes,
                planned: (planned[database.name] ?? []).sorted { $0.id < $1.id })
        }
        return Timeline(
            from: now, to: end, offset: page.offset, limit: page.limit, total: sorted.count, databases: Array(rows))
    }

    /// The audit records of one changeover, oldest first; nil when the log holds none.
    public func audit(of id: String) throws -> [AuditRecord]? {
        let records = try AuditLog.read(path: config.auditLog, changeover: id)
        return records.isEmpty ? nil : records
    }
}
