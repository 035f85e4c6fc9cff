import Foundation

extension MaintenanceWindow {
    /// Reads a window in one of the forms operators already know.
    ///
    /// - Heroku: `Sundays 22:00` (or `Sunday`, `sun`; any case), 4 h, UTC. A zone and a length
    ///   may follow in either order: `Sundays 22:00 Europe/Berlin for 2h`.
    /// - RDS: `sun:22:00-sun:23:30`, UTC unless a zone follows
    ///   (`sun:22:00-mon:01:30 America/New_York`). It may cross midnight and the end of the
    ///   week (`sat:23:00-sun:01:00`); at least 30 minutes.
    ///
    /// Lengths are written `30m`, `2h`, `90m`, `1h30m` (also `1d`).
    ///
    /// - Throws: ``WindowError`` whose one-line description names the bad part and quotes `text`.
    public static func parse(_ text: String) throws(WindowError) -> MaintenanceWindow {
        guard text.utf8.count <= maximumSpecLength else {
            throw WindowError(
                .badSyntax,
                "window spec of \(text.utf8.count) bytes (a window is a few words; at most \(maximumSpecLength))")
        }
        let spec = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let tokens = spec.split(whereSeparator: \.isWhitespace).map(String.init)
        guard let first = tokens.first else {
            throw WindowError(
                .badSyntax,
                "empty window spec (use e.g. \"Sundays 22:00\" or \"sun:22:00-sun:23:30\")")
        }
        if first.contains("-") || first.contains(":") {
            return try parseRDS(tokens, spec: spec)
        }
        return try parseHeroku(tokens, spec: spec)
    }

    private static func parseHeroku(_ tokens: [String], spec: String) throws(WindowError)
        -> MaintenanceWindow
    {
        guard let day = Day(name: tokens[0]) else {
            throw WindowError(
                .badDay, "bad day \"\(tokens[0])\" in \"\(spec)\" (use Monday…Sunday)")
        }
        guard tokens.count >= 2 else {
            throw WindowError(
                .badSyntax, "missing start time in \"\(spec)\" (use e.g. \"Sundays 22:00\")")
        }
        let (hour, minute) = try parseTime(tokens[1], spec: spec)

        var zone: TimeZone?
        var duration: Duration?
        var index = 2
        while index < tokens.count {
            let token = tokens[index]
            if token.lowercased() == "for", duration == nil {
                guard index + 1 < tokens.count else {
                    throw WindowError(
                        .badDuration,
                        "missing duration after \"for\" in \"\(spec)\" (use e.g. 30m, 2h, 1h30m)")
                }
                duration = try parseDuration(tokens[index + 1], spec: spec)
                index += 2
            } else if zone == nil {
                zone = try parseZone(token, spec: spec)
                index += 1
            } else {
                throw WindowError(.badSyntax, "unexpected \"\(token)\" in \"\(spec)\"")
            }
        }
        return try make(
            day: day, hour: hour, minute: minute,
            duration: duration ?? defaultDuration, zone: zone, spec: spec)
    }

    private static func parseRDS(_ tokens: [String], spec: String) throws(WindowError)
        -> MaintenanceWindow
    {
        let range = tokens[0]
        let ends = range.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard ends.count == 2 else {
            throw WindowError(
                .badSyntax,
                "bad range \"\(range)\" in \"\(spec)\" (use ddd:hh:mm-ddd:hh:mm, e.g. sun:22:00-sun:23:30)"
            )
        }
        let (startDay, startHour, startMinute) = try parseRDSEnd(ends[0], spec: spec)
        let (endDay, endHour, endMinute) = try parseRDSEnd(ends[1], spec: spec)
        guard tokens.count <= 2 else {
            throw WindowError(.badSyntax, "unexpected \"\(tokens[2])\" in \"\(spec)\"")
        }
        let zone = tokens.count == 2 ? try parseZone(tokens[1], spec: spec) : nil

        let minutesPerWeek = 7 * 24 * 60
        func weekMinute(_ day: Day, _ hour: Int, _ minute: Int) -> Int {
            (day.rawValue - 1) * 24 * 60 + hour * 60 + minute
        }
        let length = WindowZoneMath.floorMod(
            weekMinute(endDay, endHour, endMinute) - weekMinute(startDay, startHour, startMinute),
            minutesPerWeek)
        return try make(
            day: startDay, hour: startHour, minute: startMinute,
            duration: .seconds(length * 60), zone: zone, spec: spec)
    }

    private static func parseRDSEnd(_ text: String, spec: String) throws(WindowError) -> (
        Day, Int, Int
    ) {
        guard let colon = text.firstIndex(of: ":") else {
            throw WindowError(
                .badSyntax,
                "bad range end \"\(text)\" in \"\(spec)\" (use ddd:hh:mm, e.g. sun:22:00)")
        }
        let dayText = String(text[..<colon])
        guard let day = Day(name: dayText) else {
            throw WindowError(.badDay, "bad day \"\(dayText)\" in \"\(spec)\" (use mon…sun)")
        }
        let (hour, minute) = try parseTime(String(text[text.index(after: colon)...]), spec: spec)
        return (day, hour, minute)
    }

    /// "H:MM" or "HH:MM", 00:00…23:59.
    static func parseTime(_ text: String, spec: String) throws(WindowError) -> (Int, Int) {
        let bad = WindowError(
            .badTime, "bad time \"\(text)\" in \"\(spec)\" (use HH:MM from 00:00 to 23:59)")
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2,
            (1...2).contains(parts[0].count), parts[1].count == 2,
            parts[0].allSatisfy(\.isASCIIDigit), parts[1].allSatisfy(\.isASCIIDigit),
            let hour = Int(parts[0]), let minute = Int(parts[1]),
            (0...23).contains(hour), (0...59).contains(minute)
        else { throw bad }
        return (hour, minute)
    }

    static func parseDuration(_ text: String, spec: String) throws(WindowError) -> Duration {
        guard let duration = WindowDurationText.parse(text) else {
            throw WindowError(
                .badDuration,
                "bad duration \"\(text)\" in \"\(spec)\" (use e.g. 30m, 2h, 1h30m)")
        }
        return duration
    }

    static func parseZone(_ text: String, spec: String) throws(WindowError) -> TimeZone {
        guard let zone = WindowZoneNames.zone(named: text) else {
            throw WindowError(
                .unknownTimeZone,
                "unknown time zone \"\(text)\" in \"\(spec)\" (use an IANA name like Europe/Berlin)")
        }
        return zone
    }

    /// The initializer's checks, with the spec quoted in the error.
    static func make(
        day: Day, hour: Int, minute: Int, duration: Duration, zone: TimeZone?, spec: String
    ) throws(WindowError) -> MaintenanceWindow {
        do {
            return try MaintenanceWindow(
                day: day, hour: hour, minute: minute, duration: duration,
                timeZone: zone ?? TimeZone(identifier: "UTC")!)
        } catch {
            throw WindowError(error.code, error.message + " in \"\(spec)\"")
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Window lengths as operators write them: `30m`, `2h`, `90m`, `1h30m`, `1d`.
enum WindowDurationText {
    static func parse(_ text: String) -> Duration? {
        var minutes = 0
        var number = 0
        var digits = 0
        var sawUnit = false
        for character in text.lowercased() {
            if let digit = character.wholeNumberValue, character.isASCII {
                guard digits < 7 else { return nil }
                number = number * 10 + digit
                digits += 1
                continue
            }
            guard digits > 0 else { return nil }
            switch character {
            case "d": minutes += number * 24 * 60
            case "h": minutes += number * 60
            case "m": minutes += number
            default: return nil
            }
            number = 0
            digits = 0
            sawUnit = true
        }
        guard sawUnit, digits == 0, minutes > 0 else { return nil }
        return .seconds(minutes * 60)
    }

    /// "4h", "1h30m", "45m"; seconds only if the length is not whole minutes.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0, seconds % 60 == 0 else { return "\(duration)" }
        let minutes = Int(seconds / 60)
        let hours = minutes / 60
        let rest = minutes % 60
        switch (hours, rest) {
        case (0, _): return "\(rest)m"
        case (_, 0): return "\(hours)h"
        default: return "\(hours)h\(rest)m"
        }
    }
}
