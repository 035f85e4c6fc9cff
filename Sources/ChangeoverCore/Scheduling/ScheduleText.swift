import Foundation

/// How the scheduler writes times, durations and sizes for people: "3 h 12 min",
/// "Sun 22:00 Europe/Berlin", "2026-05-03T20:00:00Z", "1.2 GB".
public enum ScheduleText {
    public static func duration(_ duration: Duration) -> String { self.duration(seconds: duration.seconds) }

    public static func duration(since start: Date, until end: Date) -> String {
        duration(seconds: max(0, end.timeIntervalSince(start)))
    }

    public static func duration(seconds: Double) -> String {
        if seconds < 1 { return seconds <= 0 ? "0 s" : String(format: "%.0f ms", seconds * 1000) }
        let total = Int(seconds.rounded(.up))
        let days = total / 86_400
        let hours = total % 86_400 / 3600
        let minutes = total % 3600 / 60
        let rest = total % 60
        if days > 0 { return hours > 0 ? "\(days) d \(hours) h" : "\(days) d" }
        if hours > 0 { return minutes > 0 ? "\(hours) h \(minutes) min" : "\(hours) h" }
        if minutes >= 10 || (minutes > 0 && rest == 0) { return "\(minutes) min" }
        if minutes > 0 { return "\(minutes) min \(rest) s" }
        return "\(rest) s"
    }

    /// Weekday and local time in `zone`, seconds only when not zero: "Sun 22:00 Europe/Berlin".
    ///
    /// From the Gregorian calendar's fields rather than a `DateFormatter` (what
    /// `en_US_POSIX` "EEE HH:mm" prints): making a formatter (ICU) costs tens of microseconds, and
    /// the daemon writes this for every scheduled changeover on every tick.
    public static func local(_ date: Date, _ zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let fields = calendar.dateComponents([.weekday, .hour, .minute, .second], from: toMilliseconds(date))
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) % 60 != 0
        let weekday = weekdays[((fields.weekday ?? 1) - 1 + 7) % 7]
        let time =
            "\(twoDigits(fields.hour ?? 0)):\(twoDigits(fields.minute ?? 0))"
            + (seconds ? ":\(twoDigits(fields.second ?? 0))" : "")
        return "\(weekday) \(time) \(zone.identifier == "GMT" ? "UTC" : zone.identifier)"
    }

    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    private static func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// ISO 8601 in UTC, whole seconds: "2026-05-03T20:00:00Z" (a format style rather than an
    /// `ISO8601DateFormatter`, which is costly to make, for the same reason as `local`).
    public static func iso(_ date: Date) -> String {
        toMilliseconds(date).formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC")!))
    }

    /// The date at the nearest millisecond, as the formatters saw it (ICU counts milliseconds):
    /// 12:40:42.9996 is written 12:40:43, as before.
    private static func toMilliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    public static func bytes(_ bytes: Int64) -> String {
        let value = Double(bytes)
        for (unit, scale) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] where value >= scale {
            return String(format: "%.1f", value / scale) + " " + unit
        }
        return "\(bytes) B"
    }
}
