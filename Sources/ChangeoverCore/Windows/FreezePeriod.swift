import Foundation

/// Days on which no switchover may run, e.g. 2026-12-20 … 2027-01-03 for the holidays.
///
/// The first and last days are both included, from local midnight at the start of `first`
/// to local midnight at the end of `last` in `timeZone` (UTC by default). If midnight does not
/// exist in the zone that day (a spring-forward gap at 00:00), the boundary is the first
/// instant after the gap, as for window starts.
///
/// Fleet-wide and per-database freezes are both just lists handed to ``WindowSchedule``; an
/// opening that overlaps a freeze keeps only its part outside it.
public struct FreezePeriod: Sendable, Hashable, CustomStringConvertible {
    /// A calendar date without a time, written `2026-12-20`.
    public struct CalendarDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
        public let year: Int
        public let month: Int
        public let day: Int

        public init(year: Int, month: Int, day: Int) throws(WindowError) {
            guard (1...9999).contains(year), (1...12).contains(month),
                (1...WindowZoneMath.daysIn(month: month, year: year)).contains(day)
            else {
                throw WindowError(
                    .badDate, "bad date \"\(year)-\(month)-\(day)\" (use YYYY-MM-DD)")
            }
            self.year = year
            self.month = month
            self.day = day
        }

        /// Reads `YYYY-MM-DD`.
        public static func parse(_ text: String) throws(WindowError) -> CalendarDate {
            try parse(text, in: nil)
        }

        static func parse(_ text: String, in spec: String?) throws(WindowError) -> CalendarDate {
            let bad = WindowError(
                .badDate,
                "bad date \"\(text)\"" + (spec.map { " in \"\($0)\"" } ?? "")
                    + " (use YYYY-MM-DD)")
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
                parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
                let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
            else { throw bad }
            do { return try CalendarDate(year: year, month: month, day: day) } catch {
                throw bad
            }
        }

        /// Days since 1970-01-01.
        var dayNumber: Int { WindowZoneMath.dayNumber(year: year, month: month, day: day) }

        public static func < (lhs: CalendarDate, rhs: CalendarDate) -> Bool {
            (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
        }

        public var description: String {
            let y = String(year)
            return String(repeating: "0", count: max(0, 4 - y.count)) + y + "-"
                + MaintenanceWindow.twoDigits(month) + "-" + MaintenanceWindow.twoDigits(day)
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            do { self = try Self.parse(text) } catch {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: error.description)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(description)
        }
    }

    public let first: CalendarDate
    public let last: CalendarDate
    public let timeZone: TimeZone
    public let reason: String?

    /// - Throws: ``WindowError`` if `last` is before `first`.
    public init(
        first: CalendarDate, last: CalendarDate,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!, reason: String? = nil
    ) throws(WindowError) {
        guard first <= last else {
            throw WindowError(
                .badFreeze, "freeze ends (\(last)) before it starts (\(first))")
        }
        self.first = first
        self.last = last
        self.timeZone = timeZone
        self.reason = reason
    }

    /// Reads `2026-12-20..2027-01-03` (also `…` or ` to `), or a single day `2026-12-25`,
    /// optionally followed by an IANA zone: `2026-12-20..2027-01-03 Europe/Berlin`.
    public static func parse(_ text: String, reason: String? = nil) throws(WindowError)
        -> FreezePeriod
    {
        guard text.utf8.count <= MaintenanceWindow.maximumSpecLength else {
            throw WindowError(
                .badSyntax,
                "freeze spec of \(text.utf8.count) bytes (a freeze is a few words; at most \(MaintenanceWindow.maximumSpecLength))"
            )
        }
        let spec = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var tokens = spec.split(whereSeparator: \.isWhitespace).map(String.init)
        if tokens.count >= 3, tokens[1].lowercased() == "to" {
            tokens.replaceSubrange(0...2, with: [tokens[0] + ".." + tokens[2]])
        }
        guard (1...2).contains(tokens.count) else {
            throw WindowError(
                .badSyntax,
                "bad freeze \"\(spec)\" (use e.g. \"2026-12-20..2027-01-03 Europe/Berlin\")")
        }
        let range = tokens[0].replacingOccurrences(of: "…", with: "..")
        let ends = range.components(separatedBy: "..")
        guard (1...2).contains(ends.count) else {
            throw WindowError(
                .badSyntax,
                "bad freeze \"\(spec)\" (use e.g. \"2026-12-20..2027-01-03 Europe/Berlin\")")
        }
        let first = try CalendarDate.parse(ends[0], in: spec)
        let last = try CalendarDate.parse(ends.count == 2 ? ends[1] : ends[0], in: spec)
        let zone =
            tokens.count == 2
            ? try MaintenanceWindow.parseZone(tokens[1], spec: spec)
            : TimeZone(identifier: "UTC")!
        do {
            return try FreezePeriod(first: first, last: last, timeZone: zone, reason: reason)
        } catch {
            throw WindowError(error.code, error.message + " in \"\(spec)\"")
        }
    }

    /// First instant of the freeze.
    public var start: Date { Date(timeIntervalSince1970: startSeconds) }
    /// First instant after the freeze.
    public var end: Date { Date(timeIntervalSince1970: endSeconds) }

    var startSeconds: Double {
        WindowZoneMath.instant(
            ofLocal: first.dayNumber * WindowZoneMath.secondsPerDay, in: timeZone)
    }

    var endSeconds: Double {
        WindowZoneMath.instant(
            ofLocal: (last.dayNumber + 1) * WindowZoneMath.secondsPerDay, in: timeZone)
    }

    /// `2026-12-20..2027-01-03 Europe/Berlin (reason)`.
    public var description: String {
        "\(first)..\(last) \(WindowZoneNames.displayName(of: timeZone))"
            + (reason.map { " (\($0))" } ?? "")
    }
}

/// YAML/JSON: a string in the ``FreezePeriod/parse(_:reason:)`` form, or an object
/// `{first: "2026-12-20", last: "2027-01-03", zone: Europe/Berlin, reason: "holidays"}`
/// (`last` defaults to `first`, `zone` to UTC).
extension FreezePeriod: Codable {
    private enum Key: String, CodingKey, CaseIterable {
        case first, last, zone, reason
    }

    public init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(),
            let text = try? single.decode(String.self)
        {
            do { self = try Self.parse(text) } catch {
                throw DecodingError.dataCorrupted(
                    .init(
                        codingPath: decoder.codingPath, debugDescription: error.description,
                        underlyingError: error))
            }
            return
        }
        let container = try decoder.container(keyedBy: Key.self)
        let first = try container.decode(CalendarDate.self, forKey: .first)
        let last = try container.decodeIfPresent(CalendarDate.self, forKey: .last) ?? first
        let reason = try container.decodeIfPresent(String.self, forKey: .reason)
        var zone = TimeZone(identifier: "UTC")!
        if let zoneText = try container.decodeIfPresent(String.self, forKey: .zone) {
            guard let named = WindowZoneNames.zone(named: zoneText) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .zone, in: container,
                    debugDescription: "unknown time zone \"\(zoneText)\" (use an IANA name like Europe/Berlin)")
            }
            zone = named
        }
        do {
            self = try FreezePeriod(first: first, last: last, timeZone: zone, reason: reason)
        } catch {
            throw DecodingError.dataCorruptedError(
                forKey: .last, in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(first, forKey: .first)
        try container.encode(last, forKey: .last)
        try container.encode(WindowZoneNames.displayName(of: timeZone), forKey: .zone)
        try container.encodeIfPresent(reason, forKey: .reason)
    }
}
