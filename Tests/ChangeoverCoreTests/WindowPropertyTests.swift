import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// Hostile window and freeze specs, and random schedules: parsing never crashes, what parses
/// prints back to itself, what does not is one line naming the input; openings are ordered,
/// disjoint and outside every freeze.
@Suite struct WindowPropertyTests {
    static let days = [
        "sunday", "Sundays", "SUN", "sun", "mon", "Monday", "tuesdays", "wed", "Thursday", "fri", "saturday",
        "sundae", "Sun.", "mo", "", "dimanche", "ſun",
    ]
    static let times = [
        "22:00", "0:00", "00:00", "23:59", "9:05", "24:00", "12:60", "1:5", "123:00", "-1:00", "12:", ":30", "٢:٣٠",
        "12:00:00",
    ]
    static let zones = [
        "UTC", "utc", "Z", "GMT", "Europe/Berlin", "europe/berlin", "America/New_York", "Asia/Kathmandu",
        "Australia/Lord_Howe", "Pacific/Chatham", "America/St_Johns", "Asia/Tehran", "Africa/Casablanca",
        "Mars/Olympus", "Europe/Berlin/", "../etc/passwd", "GMT+5", "GMT+05:30", "UTC+14", "EST", "CET",
        "Etc/GMT-14", "Etc/GMT+12", "America/Argentina/Buenos_Aires", "🦀/Zone",
    ]
    static let durations = [
        "30m", "2h", "90m", "1h30m", "1d", "7d", "168h", "10080m", "29m", "8d", "0m", "1h0m", "9999999m", "10000000m",
        "m", "1x", "h1", "1H", "10081m",
    ]

    /// Mostly well-formed parts, so that about half the specs parse and the round trip is tested.
    static func part(_ items: [String], validCount: Int, _ random: inout PropertyGenerator) -> String {
        random.chance(0.85) ? items[random.int(0...validCount - 1)] : random.pick(items)
    }

    static func oneWindowSpec(_ random: inout PropertyGenerator) -> String {
        let days = { (r: inout PropertyGenerator) in part(Self.days, validCount: 11, &r) }
        let times = { (r: inout PropertyGenerator) in part(Self.times, validCount: 5, &r) }
        let zones = { (r: inout PropertyGenerator) in part(Self.zones, validCount: 13, &r) }
        let durations = { (r: inout PropertyGenerator) in part(Self.durations, validCount: 8, &r) }
        var tokens: [String]
        switch random.int(0...3) {
        case 0:
            tokens = [days(&random), times(&random)]
            if random.chance(0.5) { tokens.append(zones(&random)) }
            if random.chance(0.5) { tokens += ["for", durations(&random)] }
            if random.chance(0.2) { tokens.shuffle(using: &random) }
        case 1:
            let end = { (r: inout PropertyGenerator) in String(days(&r).prefix(3)) + ":" + times(&r) }
            tokens = [end(&random) + (random.chance(0.9) ? "-" : random.pick(["--", "–", ""])) + end(&random)]
            if random.chance(0.5) { tokens.append(zones(&random)) }
            if random.chance(0.1) { tokens += ["for", durations(&random)] }
        case 2:
            let alphabet =
                Self.days + Self.times + Self.zones + Self.durations + [
                    "for", "FOR", ":", "-", "0", "9", " ", "\t", "\n", "..", "…",
                ]
            tokens = (0..<random.int(0...6)).map { _ in random.pick(alphabet) }
        default:
            tokens = [random.noise(maxLength: 30)]
        }
        let separators = [" ", " ", " ", " ", " ", " ", "  ", "\t", "\n", "\u{A0}", "\u{2028}", "\u{85}"]
        var text = tokens.reduce("") { $0.isEmpty ? $1 : $0 + random.pick(separators) + $1 }
        if random.chance(0.1) { text = random.pick(separators) + text + random.pick(separators) }
        return text
    }

    /// The error must be one line and, for a non-blank spec, name some part of it.
    static func checkRejection(_ error: WindowError, spec: String, seed: UInt64) {
        let d = error.description
        #expect(d.isOneLine, "seed \(seed): error is not one line: \(d.debugDescription)")
        // Foundation trims a few more characters (U+200B) than Character.isWhitespace splits on.
        let words = spec.split(whereSeparator: { $0.isWhitespace })
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(
            words.isEmpty || words.contains { d.contains($0) },
            "seed \(seed): error names nothing of \(spec.debugDescription): \(d.debugDescription)")
    }

    @Test func windowSpecsRoundTripOrFailInOneLine() {
        var parsed = 0
        PropertyGenerator.forAll("window.spec", count: 12000) { random, seed in
            let spec = Self.oneWindowSpec(&random)
            do throws(WindowError) {
                let window = try MaintenanceWindow.parse(spec)
                parsed += 1
                let again = try? MaintenanceWindow.parse(window.description)
                #expect(
                    again == window,
                    "seed \(seed): \(spec.debugDescription) → \(window.description.debugDescription) → \(String(describing: again))"
                )
            } catch {
                Self.checkRejection(error, spec: spec, seed: seed)
            }
        }
        // The generator must reach both sides, or the round trip is never tested.
        #expect(parsed > 1000, "only \(parsed) specs parsed")
    }

    @Test func freezeSpecsRoundTripOrFailInOneLine() {
        var parsed = 0
        PropertyGenerator.forAll("window.freeze", count: 10000) { random, seed in
            let date = { (r: inout PropertyGenerator) -> String in
                if r.chance(0.15) {
                    return r.pick([
                        "2026-02-29", "2024-02-29", "0000-01-01", "9999-12-31", "2026-13-01", "2026-1-1", "+2026-01-01",
                        "2026-00-10", "２０２６-01-01", "",
                    ])
                }
                return String(format: "%04d-%02d-%02d", r.int(1990...2040), r.int(1...12), r.int(1...31))
            }
            var spec: String
            switch random.int(0...3) {
            case 0: spec = date(&random)
            case 1: spec = date(&random) + random.pick(["..", "…", " to ", " TO ", "...", "-", ".."]) + date(&random)
            case 2:
                spec =
                    date(&random) + ".." + date(&random) + random.pick([" ", "\t", "\n", "  "])
                    + random.pick(Self.zones)
            default: spec = random.noise(maxLength: 30)
            }
            if random.chance(0.05) { spec += " " + random.pick(Self.zones) }
            do throws(WindowError) {
                let freeze = try FreezePeriod.parse(spec)
                parsed += 1
                #expect(freeze.first <= freeze.last, "seed \(seed)")
                #expect(freeze.start < freeze.end, "seed \(seed): \(freeze)")
                let again = try? FreezePeriod.parse(freeze.description)
                #expect(
                    again == freeze, "seed \(seed): \(spec.debugDescription) → \(freeze.description.debugDescription)")
            } catch {
                Self.checkRejection(error, spec: spec, seed: seed)
            }
        }
        #expect(parsed > 1000, "only \(parsed) freezes parsed")
    }

    @Test func objectFormsDecodeOrFailInOneLine() {
        PropertyGenerator.forAll("window.object", count: 5000) { random, seed in
            func value(_ items: [String]) -> Any {
                switch random.int(0...9) {
                case 0: return random.int(-100...100000)
                case 1: return NSNull()
                case 2: return [random.pick(items)]
                case 3: return random.noise(maxLength: 12)
                default: return random.pick(items)
                }
            }
            var object: [String: Any] = [:]
            let fields: [(String, [String])] = [
                ("day", Self.days), ("start", Self.times), ("duration", Self.durations), ("zone", Self.zones),
            ]
            for (key, items) in fields where random.chance(0.85) { object[key] = value(items) }
            if random.chance(0.1) { object[random.noise(maxLength: 5)] = value(Self.days) }
            let json: Any = random.chance(0.05) ? [object] : object
            guard let data = try? JSONSerialization.data(withJSONObject: json) else { return }
            do {
                let window = try JSONDecoder().decode(MaintenanceWindow.self, from: data)
                let again = try JSONDecoder().decode(MaintenanceWindow.self, from: JSONEncoder().encode(window))
                #expect(again == window, "seed \(seed): \(String(decoding: data, as: UTF8.self))")
                #expect(try MaintenanceWindow.parse(window.description) == window, "seed \(seed)")
            } catch DecodingError.dataCorrupted(let context) {
                #expect(
                    context.debugDescription.isOneLine, "seed \(seed): \(context.debugDescription.debugDescription)")
                if let windowError = context.underlyingError as? WindowError {
                    #expect(
                        windowError.description.isOneLine, "seed \(seed): \(windowError.description.debugDescription)")
                }
            } catch is DecodingError {
                // A missing key or a number where text belongs: Foundation's own wording.
            } catch {
                Issue.record("seed \(seed): unexpected \(type(of: error)): \(error)")
            }

            // The freeze object form too.
            var freeze: [String: Any] = [:]
            let date = String(format: "%04d-%02d-%02d", random.int(2020...2030), random.int(0...13), random.int(0...32))
            for (key, v) in [
                ("first", date as Any), ("last", random.chance(0.5) ? date : random.noise(maxLength: 10)),
                ("zone", random.pick(Self.zones)), ("reason", random.noise(maxLength: 10)),
            ] where random.chance(0.8) {
                freeze[key] = random.chance(0.1) ? 7 : v
            }
            if let data = try? JSONSerialization.data(withJSONObject: freeze) {
                do {
                    let period = try JSONDecoder().decode(FreezePeriod.self, from: data)
                    #expect(period.first <= period.last, "seed \(seed)")
                } catch DecodingError.dataCorrupted(let context) {
                    #expect(
                        context.debugDescription.isOneLine, "seed \(seed): \(context.debugDescription.debugDescription)"
                    )
                } catch {}
            }
        }
    }

    // MARK: - Schedules

    static let scheduleZones = [
        "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
        "Pacific/Chatham", "America/Santiago", "Africa/Casablanca", "Asia/Tehran", "Pacific/Apia",
    ]

    static func randomSchedule(_ random: inout PropertyGenerator) -> WindowSchedule {
        var windows: [MaintenanceWindow] = []
        for _ in 0..<random.int(0...4) {
            let minutes =
                random.chance(0.1)
                ? random.pick([30, 7 * 24 * 60, 7 * 24 * 60 - 1, 3 * 24 * 60]) : random.int(30...600)
            if let window = try? MaintenanceWindow(
                day: random.pick(MaintenanceWindow.Day.allCases), hour: random.int(0...23),
                minute: random.chance(0.5) ? random.pick([0, 30]) : random.int(0...59),
                duration: .seconds(minutes * 60), timeZone: TimeZone(identifier: random.pick(scheduleZones))!)
            {
                windows.append(window)
            }
        }
        var freezes: [FreezePeriod] = []
        for _ in 0..<random.int(0...3) {
            let year = random.int(2019...2036)
            let first = try! FreezePeriod.CalendarDate(year: year, month: random.int(1...12), day: random.int(1...28))
            let span = random.chance(0.1) ? random.int(0...800) : random.int(0...20)
            let lastDay = Calendar(identifier: .gregorian).date(
                byAdding: .day, value: span,
                to: DateComponents(
                    calendar: Calendar(identifier: .gregorian), timeZone: TimeZone(identifier: "UTC"),
                    year: first.year, month: first.month, day: first.day
                ).date!)!
            let parts = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: lastDay)
            let last = try! FreezePeriod.CalendarDate(year: parts.year!, month: parts.month!, day: parts.day!)
            freezes.append(
                try! FreezePeriod(first: first, last: last, timeZone: TimeZone(identifier: random.pick(scheduleZones))!)
            )
        }
        return WindowSchedule(windows: windows, freezes: freezes)
    }

    @Test func openingsAreOrderedDisjointAndOutsideFreezes() {
        PropertyGenerator.forAll("window.schedule", count: 2500) { random, seed in
            let schedule = Self.randomSchedule(&random)
            // 2019-01-01 … 2037-01-01, sometimes on a whole minute (an opening's exact edge).
            var seconds = Double(random.int(1_546_300_800...2_114_380_800))
            if random.chance(0.3) { seconds = (seconds / 60).rounded(.down) * 60 }
            if random.chance(0.2) { seconds += Double(random.int(0...999)) / 1000 }
            let after = Date(timeIntervalSince1970: seconds)
            let openings = schedule.openings(after: after, count: random.int(1...16))
            let frozen = schedule.freezes.map { ($0.start, $0.end) }
            #expect(
                schedule.windows.isEmpty == openings.isEmpty,
                "seed \(seed): \(schedule.windows.count) windows gave \(openings.count) openings")
            var previous: WindowOpening?
            for opening in openings {
                #expect(opening.end > opening.start, "seed \(seed): empty opening \(opening)")
                #expect(opening.end > after, "seed \(seed): \(opening) ended before \(after)")
                if let previous {
                    #expect(opening.start >= previous.end, "seed \(seed): \(opening) overlaps or precedes \(previous)")
                }
                for (start, end) in frozen where opening.start < end && start < opening.end {
                    Issue.record("seed \(seed): \(opening) overlaps the freeze \(start)…\(end)")
                }
                previous = opening
            }

            let needed = Duration.seconds(random.int(1...240) * 60)
            let margin = Duration.seconds(random.int(0...60) * 60)
            let notAfter = random.chance(0.3) ? after.addingTimeInterval(Double(random.int(0...90 * 86_400))) : nil
            if let fit = schedule.nextFitting(after: after, needed: needed, margin: margin, notAfter: notAfter) {
                let need = Double((needed + margin).components.seconds)
                #expect(fit.start >= after, "seed \(seed): \(fit) starts before \(after)")
                #expect(fit.end.timeIntervalSince(fit.start) >= need, "seed \(seed): \(fit) is shorter than \(need) s")
                if let notAfter { #expect(fit.start <= notAfter, "seed \(seed): \(fit) starts after \(notAfter)") }
                for (start, end) in frozen where fit.start < end && start < fit.end {
                    Issue.record("seed \(seed): fit \(fit) overlaps the freeze \(start)…\(end)")
                }
            }
        }
    }
}
