import ArgumentParser
import ChangeoverCore
import Foundation

struct WindowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "windows",
        abstract: "Print a database's next maintenance-window openings, in its own time zone and in UTC.")

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The database.") var database: String
    @Option(help: "How many openings.") var count = 5
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1...100).contains(count) else { throw ValidationError("--count must be 1…100") }
    }

    func run() async throws {
        try await reporting {
            let config = try fleet.load()
            let db = try config.database(database)
            guard !db.windows.isEmpty || !db.oneOffWindows.isEmpty else {
                throw Failure(
                    .badInput,
                    "database \(database) has no maintenance windows (add windows: [\"Sundays 22:00 Europe/Berlin\"])")
            }
            let zone = ChangeoverRunner.zone(of: db)
            let now = Date()
            let openings = config.schedule(for: db).openings(after: now, count: count)
            if json { return try Output.json(openings) }
            let local = DateFormatter()
            local.locale = Locale(identifier: "en_US_POSIX")
            local.timeZone = zone
            local.dateFormat = "EEE yyyy-MM-dd HH:mm zzz"
            let utc = DateFormatter()
            utc.locale = Locale(identifier: "en_US_POSIX")
            utc.timeZone = TimeZone(identifier: "UTC")
            utc.dateFormat = "yyyy-MM-dd HH:mm'Z'"
            let weekly = db.windows.isEmpty ? "no weekly window" : db.windows.map(\.description).joined(separator: "; ")
            Output.line(
                "\(database): \(weekly)"
                    + (db.oneOffWindows.isEmpty ? "" : "; \(db.oneOffWindows.count) one-off window(s)")
                    + (config.freezes.count + db.freezes.count > 0
                        ? "; \(config.freezes.count + db.freezes.count) freeze period(s)" : ""))
            for opening in openings {
                let hours = opening.duration.seconds / 3600
                // Touching or overlapping windows merge into one opening; say where a one-off is in it.
                let once = db.oneOffWindows.contains { $0.start < opening.end && $0.end > opening.start }
                let marks = [
                    opening.contains(now) ? "OPEN NOW" : nil,
                    once ? (db.windows.isEmpty ? "one-off" : "includes a one-off") : nil,
                ]
                .compactMap { $0 }
                Output.line(
                    "  \(local.string(from: opening.start)) → \(local.string(from: opening.end))   "
                        + "(\(utc.string(from: opening.start)) → \(utc.string(from: opening.end)), \(String(format: "%.1f", hours)) h)"
                        + (marks.isEmpty ? "" : "  [\(marks.joined(separator: ", "))]"))
            }
            if openings.isEmpty { Output.line("  no opening within a year") }
            if !db.oneOffWindows.isEmpty {
                Output.line("one-off windows (as agreed, before freezes):")
                for once in db.oneOffWindows {
                    let when = once.end <= now ? "  [over]" : once.contains(now) ? "  [OPEN NOW]" : ""
                    Output.line(
                        "  \(local.string(from: once.start)) → \(local.string(from: once.end))   "
                            + "(\(utc.string(from: once.start)) → \(utc.string(from: once.end)))\(when)")
                }
            }
        }
    }
}
