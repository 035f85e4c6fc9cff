import Foundation

/// A weekly maintenance slot: a weekday, a local start time, a length and an IANA time zone.
///
/// A database usually has several. ``WindowSchedule`` turns them, minus freeze periods, into
/// concrete openings.
///
/// Time-zone and daylight-saving rules:
/// - **Wall clock is kept.** The start is a local wall-clock time on the given weekday in
///   `timeZone`, so "Sundays 22:00 Europe/Berlin" opens at 21:00 UTC in winter (CET) and at
///   20:00 UTC in summer (CEST). Windows given without a zone are UTC, as on Heroku and RDS.
/// - **Skipped start (spring forward).** If the start time does not exist that day, because
///   the clocks jump over it, the window opens at the first instant after the gap: 02:30 on
///   the last Sunday of March in Europe/Berlin opens at 03:00 CEST (01:00 UTC); 02:30 on the
///   second Sunday of March in America/New_York opens at 03:00 EDT (07:00 UTC).
/// - **Repeated start (fall back).** If the start time occurs twice, the window opens at the
///   first occurrence: 02:30 on the last Sunday of October in Europe/Berlin opens at 02:30 CEST
///   (00:30 UTC); 01:30 on the first Sunday of November in America/New_York opens at 01:30 EDT
///   (05:30 UTC).
/// - **Length is elapsed time.** A 4 h window lasts 4 real hours even when the clocks change
///   inside it; on such a night its local end time moves by the change (a Saturday 23:00
///   Europe/Berlin 4 h window on the spring-forward night ends at 04:00 CEST).
/// - The RDS form `ddd:hh:mm-ddd:hh:mm ZONE` measures its length on the wall clock of a normal
///   week and then applies the same rule: `sun:22:00-mon:01:30 America/New_York` is 3 h 30 min
///   from its start, whatever the clocks do.
public struct MaintenanceWindow: Sendable, Hashable, CustomStringConvertible {
    /// Day of the week, ISO numbering (Monday = 1 … Sunday = 7).
    public enum Day: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case monday = 1
        case tuesday, wednesday, thursday, friday, saturday, sunday

        /// Accepts, in any case, the full name ("Sunday"), Heroku's plural ("Sundays") and the
        /// three-letter RDS abbreviation ("sun").
        public init?(name: String) {
            let lowered = name.lowercased()
            for day in Day.allCases {
                let full = day.description
                if lowered == full || lowered == full + "s" || lowered == day.abbreviation {
                    self = day
                    return
                }
            }
            return nil
        }

        /// "monday" … "sunday".
        public var description: String {
            switch self {
            case .monday: "monday"
            case .tuesday: "tuesday"
            case .wednesday: "wednesday"
            case .thursday: "thursday"
            case .friday: "friday"
            case .saturday: "saturday"
            case .sunday: "sunday"
            }
        }

        /// "mon" … "sun", as RDS writes them.
        public var abbreviation: String { String(description.prefix(3)) }
    }

    /// Heroku's window length when none is given.
    public static let defaultDuration: Duration = .seconds(4 * 3600)
    /// RDS's minimum; shorter windows are rejected.
    public static let minimumDuration: Duration = .seconds(30 * 60)
    /// Longer windows would overlap their own next week.
    public static let maximumDuration: Duration = .seconds(7 * 86_400)
    /// The longest window or freeze spec read, in bytes: one is a few words, and parsing
    /// megabytes of one (or quoting them back) took seconds.
    public static let maximumSpecLength = 1_000

    public let day: Day
    /// Local start hour, 0…23.
    public let hour: Int
    /// Local start minute, 0…59.
    public let minute: Int
    /// Elapsed length, whole minutes.
    public let duration: Duration
    public let timeZone: TimeZone

    /// - Throws: ``WindowError`` if the time is out of range, the length is not whole minutes,
    ///   shorter than 30 minutes or longer than a week.
    public init(
        day: Day, hour: Int, minute: Int,
        duration: Duration = MaintenanceWindow.defaultDuration,
        timeZone: TimeZone = TimeZone(identifier: "UTC")!
    ) throws(WindowError) {
        guard (0...23).contains(hour), (0...59).contains(minute) else {
            throw WindowError(
                .badTime,
                "bad time \"\(Self.twoDigits(hour)):\(Self.twoDigits(minute))\""
                    + " (use HH:MM from 00:00 to 23:59)")
        }
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0, seconds % 60 == 0 else {
            throw WindowError(.badDuration, "bad duration \(duration) (use whole minutes)")
        }
        guard duration >= Self.minimumDuration else {
            throw WindowError(
                .tooShort,
                "window shorter than 30 minutes (\(WindowDurationText.format(duration)))")
        }
        guard duration <= Self.maximumDuration else {
            throw WindowError(
                .tooLong, "window longer than 7 days (\(WindowDurationText.format(duration)))")
        }
        self.day = day
        self.hour = hour
        self.minute = minute
        self.duration = duration
        self.timeZone = timeZone
    }

    /// Canonical text that ``parse(_:)`` reads back, e.g. `sunday 22:00 Europe/Berlin for 4h`.
    public var description: String {
        "\(day) \(startText) \(WindowZoneNames.displayName(of: timeZone)) for "
            + WindowDurationText.format(duration)
    }

    /// "HH:MM".
    public var startText: String { Self.twoDigits(hour) + ":" + Self.twoDigits(minute) }

    static func twoDigits(_ value: Int) -> String { (0...9).contains(value) ? "0\(value)" : "\(value)" }

    // MARK: - Occurrences

    /// One concrete occurrence, as seconds since 1970 UTC.
    struct Occurrence {
        var localDay: Int
        var start: Double
        var end: Double
    }

    var durationSeconds: Double { Double(duration.components.seconds) }

    /// The occurrence that starts on local day `localDay` (which must be this window's weekday).
    func occurrence(onLocalDay localDay: Int) -> Occurrence {
        let local = localDay * WindowZoneMath.secondsPerDay + hour * 3600 + minute * 60
        let start = WindowZoneMath.instant(ofLocal: local, in: timeZone)
        return Occurrence(localDay: localDay, start: start, end: start + durationSeconds)
    }

    /// The earliest occurrence that ends after `instant` (it may already be open).
    func occurrence(endingAfter instant: Double) -> Occurrence {
        let today = WindowZoneMath.localDay(of: instant, in: timeZone)
        let back = WindowZoneMath.floorMod(
            WindowZoneMath.isoWeekday(ofDay: today) - day.rawValue, 7)
        let latest = today - back  // latest matching day not after today
        // The occurrence a week earlier began more than six local days before `instant`, so it
        // can still be open only if the window lasts more than five days (leaving a day for
        // offset changes).
        if durationSeconds > 5 * 86_400 {
            let earlier = occurrence(onLocalDay: latest - 7)
            if earlier.end > instant { return earlier }
        }
        let candidate = occurrence(onLocalDay: latest)
        if candidate.end > instant { return candidate }
        return occurrence(onLocalDay: latest + 7)
    }

    /// The occurrence a week after `occurrence`.
    func occurrence(after occurrence: Occurrence) -> Occurrence {
        self.occurrence(onLocalDay: occurrence.localDay + 7)
    }
}
