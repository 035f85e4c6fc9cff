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
        public var databases: [Row]
    }

    public static let timelineDays = 14

    public func timeline(now: Date = Date()) -> Timeline {
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
        let rows = config.databases.values.sorted { $0.name < $1.name }.map { database in
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
        return Timeline(from: now, to: end, databases: rows)
    }

    /// The audit records of one changeover, oldest first; nil when the log holds none.
    public func audit(of id: String) throws -> [AuditRecord]? {
        let records = try AuditLog.read(path: config.auditLog, changeover: id)
        return records.isEmpty ? nil : records
    }
}
