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
        let days = total / 86_400, hours = total % 86_400 / 3600, minutes = total % 3600 / 60, rest = total % 60
        if days > 0 { return hours > 0 ? "\(days) d \(hours) h" : "\(days) d" }
        if hours > 0 { return minutes > 0 ? "\(hours) h \(minutes) min" : "\(hours) h" }
        if minutes >= 10 || (minutes > 0 && rest == 0) { return "\(minutes) min" }
        if minutes > 0 { return "\(minutes) min \(rest) s" }
        return "\(rest) s"
    }

    /// Weekday and local time in `zone`, seconds only when not zero: "Sun 22:00 Europe/Berlin".
    public static func local(_ date: Date, _ zone: TimeZone) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        let seconds = Int(date.timeIntervalSince1970.rounded(.down)) % 60 != 0
        formatter.dateFormat = seconds ? "EEE HH:mm:ss" : "EEE HH:mm"
        return "\(formatter.string(from: date)) \(zone.identifier == "GMT" ? "UTC" : zone.identifier)"
    }

    /// ISO 8601 in UTC, whole seconds.
    public static func iso(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    public static func bytes(_ bytes: Int64) -> String {
        let value = Double(bytes)
        for (unit, scale) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] where value >= scale {
            return String(format: "%.1f", value / scale) + " " + unit
        }
        return "\(bytes) B"
    }
}
