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
            guard let zone = db.windows.first?.timeZone else {
                throw Failure(.badInput, "database \(database) has no maintenance windows (add windows: [\"Sundays 22:00 Europe/Berlin\"])")
            }
            let openings = config.schedule(for: db).openings(after: Date(), count: count)
            if json { return try Output.json(openings) }
            let local = DateFormatter()
            local.locale = Locale(identifier: "en_US_POSIX")
            local.timeZone = zone
            local.dateFormat = "EEE yyyy-MM-dd HH:mm zzz"
            let utc = DateFormatter()
            utc.locale = Locale(identifier: "en_US_POSIX")
            utc.timeZone = TimeZone(identifier: "UTC")
            utc.dateFormat = "yyyy-MM-dd HH:mm'Z'"
            Output.line("\(database): \(db.windows.map(\.description).joined(separator: "; "))"
                + (config.freezes.count + db.freezes.count > 0 ? "; \(config.freezes.count + db.freezes.count) freeze period(s)" : ""))
            for opening in openings {
                let hours = opening.duration.seconds / 3600
                Output.line("  \(local.string(from: opening.start)) → \(local.string(from: opening.end))   "
                    + "(\(utc.string(from: opening.start)) → \(utc.string(from: opening.end)), \(String(format: "%.1f", hours)) h)")
            }
            if openings.isEmpty { Output.line("  no opening within a year") }
        }
    }
}
