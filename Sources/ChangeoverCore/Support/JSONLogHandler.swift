import Foundation
import Logging
import Redaction
import Synchronization

/// Logs for machines (`--log-format json`): one JSON object a line with the time, the level,
/// the changeover, the database, the step and the message; the other metadata under `metadata`.
/// A metadata key that names a password, token or secret has its value replaced: the config
/// keeps secrets out of conninfos, this keeps a careless log call from printing one.
public struct JSONLogHandler: LogHandler {
    /// One line as written. `changeover`, `database` and `step` come from the metadata keys
    /// `changeover.id`, `db.name` and `changeover.step`.
    public struct Line: Codable, Sendable, Equatable {
        public var time: String
        public var level: String
        public var changeover: String?
        public var database: String?
        public var step: String?
        public var message: String
        public var metadata: [String: String]?

        public init(
            time: Date = Date(), level: Logger.Level, changeover: String? = nil, database: String? = nil,
            step: String? = nil, message: String, metadata: [String: String]? = nil
        ) {
            self.time = JSONLogHandler.timestamp(time)
            self.level = level.rawValue
            self.changeover = changeover
            self.database = database
            self.step = step
            self.message = message
            self.metadata = metadata?.isEmpty == true ? nil : metadata
        }

        /// The line's JSON, without a newline.
        public var encoded: String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        }
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    let write: @Sendable (String) -> Void

    public init(write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        func take(_ key: String) -> String? { all.removeValue(forKey: key).map { "\($0)" } }
        let line = Line(
            level: event.level, changeover: take("changeover.id"), database: take("db.name"),
            step: take("changeover.step"), message: event.message.description,
            metadata: Self.redacted(all.mapValues { "\($0)" }))
        write(line.encoded)
    }

    /// What replaces a log value whose key names a secret.
    public static let placeholder = "(redacted)"

    /// `values` with every value whose key holds one of `Redaction`'s secret words replaced (a
    /// lease's token too: a log has no need of it), and every password inside another value
    /// masked in place.
    public static func redacted(_ values: [String: String]) -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in values {
            let lower = key.lowercased()
            let secret = Redaction.secretKeyWords.contains(where: lower.contains)
            out[key] = secret ? placeholder : Redaction.maskingPasswords(in: value)
        }
        return out
    }

    /// ISO 8601 in UTC with milliseconds: "2026-12-07T04:22:11.123Z".
    public static func timestamp(_ date: Date) -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(date)
    }

    private static let lock = Mutex(())

    /// Writes `line` and a newline to stderr in one write, one writer at a time.
    public static let standardError: @Sendable (String) -> Void = { line in
        lock.withLock { _ in FileHandle.standardError.write(Data((line + "\n").utf8)) }
    }
}
