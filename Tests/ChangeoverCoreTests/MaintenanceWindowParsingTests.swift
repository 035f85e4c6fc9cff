import ChangeoverCore
import Foundation
import Testing

@Suite struct MaintenanceWindowParsingTests {
    @Test func herokuFormDefaultsToFourHoursInUTC() throws {
        let window = try MaintenanceWindow.parse("Sundays 22:00")
        #expect(window.day == .sunday)
        #expect(window.hour == 22)
        #expect(window.minute == 0)
        #expect(window.duration == hours(4))
        #expect(window.timeZone == zone("UTC"))
    }

    @Test(arguments: [
        "Sunday 22:00", "sundays 22:00", "SUNDAYS 22:00", "SuNdAy 22:00", "sun 22:00", "  Sundays   22:00  ",
    ])
    func herokuDayNamesIgnoreCaseAndPlural(_ text: String) throws {
        #expect(try MaintenanceWindow.parse(text) == MaintenanceWindow.parse("Sundays 22:00"))
    }

    @Test func herokuFormTakesAZone() throws {
        let window = try MaintenanceWindow.parse("Wednesdays 9:30 Europe/Berlin")
        #expect(window.day == .wednesday)
        #expect(window.hour == 9)
        #expect(window.minute == 30)
        #expect(window.duration == hours(4))
        #expect(window.timeZone == zone("Europe/Berlin"))
    }

    @Test func herokuFormTakesALengthAndZoneInEitherOrder() throws {
        let short = try MaintenanceWindow.parse("Sundays 22:00 for 2h")
        #expect(short.duration == hours(2))
        #expect(short.timeZone == zone("UTC"))
        let a = try MaintenanceWindow.parse("Sundays 22:00 Europe/Berlin for 1h30m")
        let b = try MaintenanceWindow.parse("sundays 22:00 FOR 90m europe/berlin")
        #expect(a == b)
        #expect(a.duration == minutes(90))
        #expect(a.timeZone == zone("Europe/Berlin"))
    }

    @Test func rdsFormIsUTCUnlessAZoneFollows() throws {
        let window = try MaintenanceWindow.parse("sun:22:00-sun:23:30")
        #expect(window.day == .sunday)
        #expect(window.hour == 22)
        #expect(window.minute == 0)
        #expect(window.duration == minutes(90))
        #expect(window.timeZone == zone("UTC"))
    }

    @Test func rdsFormSpansMidnightInAZone() throws {
        let window = try MaintenanceWindow.parse("sun:22:00-mon:01:30 America/New_York")
        #expect(window.day == .sunday)
        #expect(window.duration == minutes(210))
        #expect(window.timeZone == zone("America/New_York"))
    }

    @Test func rdsFormWrapsAroundTheWeek() throws {
        let saturdayNight = try MaintenanceWindow.parse("SAT:23:00-Sun:01:00")
        #expect(saturdayNight.day == .saturday)
        #expect(saturdayNight.hour == 23)
        #expect(saturdayNight.duration == hours(2))
        let sundayNight = try MaintenanceWindow.parse("sun:23:00-mon:01:00")
        #expect(sundayNight.day == .sunday)
        #expect(sundayNight.duration == hours(2))
    }

    @Test func rdsMinimumIsThirtyMinutes() throws {
        #expect(try MaintenanceWindow.parse("sun:22:00-sun:22:30").duration == minutes(30))
        #expect(throws: WindowError.self) { try MaintenanceWindow.parse("sun:22:00-sun:22:29") }
    }

    @Test(arguments: [("30m", 30), ("2h", 120), ("90m", 90), ("1h30m", 90), ("1d", 1440)])
    func objectFormReadsDurations(_ text: String, _ expectedMinutes: Int) throws {
        let json = #"{"day": "sunday", "start": "22:00", "duration": "\#(text)", "zone": "Europe/Berlin"}"#
        let window = try JSONDecoder().decode(MaintenanceWindow.self, from: Data(json.utf8))
        #expect(window.day == .sunday)
        #expect(window.hour == 22)
        #expect(window.duration == minutes(expectedMinutes))
        #expect(window.timeZone == zone("Europe/Berlin"))
    }

    @Test func objectFormDefaultsToFourHoursInUTC() throws {
        let json = #"{"day": "Sat", "start": "07:15"}"#
        let window = try JSONDecoder().decode(MaintenanceWindow.self, from: Data(json.utf8))
        #expect(window == (try MaintenanceWindow(day: .saturday, hour: 7, minute: 15)))
    }

    @Test func decodesStringsInBothForms() throws {
        let json = #"["Sundays 22:00 for 2h", "sat:23:00-sun:01:00 Europe/Berlin"]"#
        let windows = try JSONDecoder().decode([MaintenanceWindow].self, from: Data(json.utf8))
        #expect(
            windows == [
                try MaintenanceWindow(day: .sunday, hour: 22, minute: 0, duration: hours(2)),
                try MaintenanceWindow(
                    day: .saturday, hour: 23, minute: 0, duration: hours(2),
                    timeZone: zone("Europe/Berlin")),
            ])
    }

    @Test func encodesTheObjectFormAndReadsItBack() throws {
        let window = try MaintenanceWindow.parse("sun:22:00-mon:01:30 America/New_York")
        let data = try JSONEncoder().encode(window)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: String]
        #expect(object == ["day": "sunday", "start": "22:00", "duration": "3h30m", "zone": "America/New_York"])
        #expect(try JSONDecoder().decode(MaintenanceWindow.self, from: data) == window)
    }

    @Test func descriptionParsesBack() throws {
        for text in ["Sundays 22:00", "sat:23:00-sun:01:00 Asia/Tokyo", "Mondays 9:05 for 45m"] {
            let window = try MaintenanceWindow.parse(text)
            #expect(try MaintenanceWindow.parse(window.description) == window)
        }
        #expect(try MaintenanceWindow.parse("Sundays 22:00").description == "sunday 22:00 UTC for 4h")
    }

    static let malformed: [(String, WindowError.Code, String)] = [
        ("sux:22:00-sun:23:30", .badDay, #"bad day "sux" in "sux:22:00-sun:23:30" (use mon…sun)"#),
        ("sun:22:00-mnn:23:30", .badDay, #"bad day "mnn" in "sun:22:00-mnn:23:30" (use mon…sun)"#),
        ("Sundayz 22:00", .badDay, #"bad day "Sundayz" in "Sundayz 22:00" (use Monday…Sunday)"#),
        ("Sundays 25:00", .badTime, #"bad time "25:00" in "Sundays 25:00" (use HH:MM from 00:00 to 23:59)"#),
        (
            "sun:22:60-sun:23:30", .badTime,
            #"bad time "22:60" in "sun:22:60-sun:23:30" (use HH:MM from 00:00 to 23:59)"#
        ),
        ("Sundays 2200", .badTime, #"bad time "2200" in "Sundays 2200" (use HH:MM from 00:00 to 23:59)"#),
        (
            "Sundays 22:00 Europe/Berln", .unknownTimeZone,
            #"unknown time zone "Europe/Berln" in "Sundays 22:00 Europe/Berln" (use an IANA name like Europe/Berlin)"#
        ),
        (
            "sun:22:00-sun:23:30 Mars/Olympus", .unknownTimeZone,
            #"unknown time zone "Mars/Olympus" in "sun:22:00-sun:23:30 Mars/Olympus" (use an IANA name like Europe/Berlin)"#
        ),
        ("sun:22:00-sun:22:20", .tooShort, #"window shorter than 30 minutes (20m) in "sun:22:00-sun:22:20""#),
        ("sun:22:00-sun:22:00", .tooShort, #"window shorter than 30 minutes (0m) in "sun:22:00-sun:22:00""#),
        ("Sundays 22:00 for 20m", .tooShort, #"window shorter than 30 minutes (20m) in "Sundays 22:00 for 20m""#),
        ("Sundays 22:00 for 8d", .tooLong, #"window longer than 7 days (192h) in "Sundays 22:00 for 8d""#),
        (
            "Sundays 22:00 for 2x", .badDuration,
            #"bad duration "2x" in "Sundays 22:00 for 2x" (use e.g. 30m, 2h, 1h30m)"#
        ),
        (
            "Sundays 22:00 for", .badDuration,
            #"missing duration after "for" in "Sundays 22:00 for" (use e.g. 30m, 2h, 1h30m)"#
        ),
        ("Sundays", .badSyntax, #"missing start time in "Sundays" (use e.g. "Sundays 22:00")"#),
        ("Sundays 22:00 UTC extra", .badSyntax, #"unexpected "extra" in "Sundays 22:00 UTC extra""#),
        (
            "sun:22:00", .badSyntax,
            #"bad range "sun:22:00" in "sun:22:00" (use ddd:hh:mm-ddd:hh:mm, e.g. sun:22:00-sun:23:30)"#
        ),
        ("  ", .badSyntax, #"empty window spec (use e.g. "Sundays 22:00" or "sun:22:00-sun:23:30")"#),
    ]

    @Test(arguments: malformed)
    func malformedSpecsNameTheBadPart(_ text: String, _ code: WindowError.Code, _ message: String) {
        do {
            _ = try MaintenanceWindow.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.description == message)
            #expect(error.code == code)
            #expect(!error.description.contains("\n"))
        }
    }

    @Test func objectFormErrorsNameTheBadPart() throws {
        let json = #"{"day": "sux", "start": "22:00"}"#
        do {
            _ = try JSONDecoder().decode(MaintenanceWindow.self, from: Data(json.utf8))
            Issue.record("decoded a bad day")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription == #"bad day "sux" in "{day: sux, start: 22:00}" (use monday…sunday)"#)
            #expect((context.underlyingError as? WindowError)?.code == .badDay)
            #expect(context.codingPath.map(\.stringValue) == ["day"])
        }
        let tooShort = #"{"day": "sunday", "start": "22:00", "duration": "25m", "zone": "Europe/Berlin"}"#
        do {
            _ = try JSONDecoder().decode(MaintenanceWindow.self, from: Data(tooShort.utf8))
            Issue.record("decoded a 25-minute window")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(
                context.debugDescription
                    == #"window shorter than 30 minutes (25m) in "{day: sunday, start: 22:00, duration: 25m, zone: Europe/Berlin}""#
            )
        }
        let badZone = #"["Sundays 22:00 Europe/Berln"]"#
        do {
            _ = try JSONDecoder().decode([MaintenanceWindow].self, from: Data(badZone.utf8))
            Issue.record("decoded an unknown zone")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.hasPrefix(#"unknown time zone "Europe/Berln""#))
        }
    }

    @Test func initializerChecksRanges() {
        #expect(throws: WindowError.self) { try MaintenanceWindow(day: .monday, hour: 24, minute: 0) }
        #expect(throws: WindowError.self) { try MaintenanceWindow(day: .monday, hour: 1, minute: 60) }
        #expect(throws: WindowError.self) {
            try MaintenanceWindow(day: .monday, hour: 1, minute: 0, duration: .seconds(3601))
        }
        #expect(throws: Never.self) {
            try MaintenanceWindow(day: .monday, hour: 1, minute: 0, duration: .seconds(7 * 86_400))
        }
    }
}
