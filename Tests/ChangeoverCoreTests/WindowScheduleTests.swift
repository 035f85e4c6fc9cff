import ChangeoverCore
import Foundation
import Testing

@Suite struct WindowScheduleTests {
    func schedule(_ specs: [String], freezes: [String] = []) throws -> WindowSchedule {
        WindowSchedule(
            windows: try specs.map { try MaintenanceWindow.parse($0) },
            freezes: try freezes.map { try FreezePeriod.parse($0) })
    }

    func opening(_ start: String, _ end: String) -> WindowOpening {
        WindowOpening(start: utc(start), end: utc(end))
    }

    // MARK: Openings

    @Test func openingsFromSeveralZonesComeInOrder() throws {
        let windows = try schedule([
            "Wednesdays 12:00 for 1h",  // UTC
            "thu:09:00-thu:10:00 Asia/Tokyo",  // Thu 00:00-01:00 UTC
            "Tuesdays 18:00 America/New_York for 1h",  // Tue 23:00-Wed 00:00 UTC in winter
        ])
        #expect(
            windows.openings(after: utc("2026-01-05T00:00:00Z"), count: 4) == [
                opening("2026-01-06T23:00:00Z", "2026-01-07T00:00:00Z"),
                opening("2026-01-07T12:00:00Z", "2026-01-07T13:00:00Z"),
                opening("2026-01-08T00:00:00Z", "2026-01-08T01:00:00Z"),
                opening("2026-01-13T23:00:00Z", "2026-01-14T00:00:00Z"),
            ])
    }

    @Test func touchingAndOverlappingWindowsMerge() throws {
        let windows = try schedule([
            "Sundays 18:00 America/New_York for 1h",  // Sun 23:00-Mon 00:00 UTC
            "mon:09:00-mon:10:00 Asia/Tokyo",  // Mon 00:00-01:00 UTC: touches
            "mon:00:30-mon:02:00",  // overlaps
        ])
        #expect(
            windows.openings(after: utc("2026-01-06T00:00:00Z"), count: 2) == [
                opening("2026-01-11T23:00:00Z", "2026-01-12T02:00:00Z"),
                opening("2026-01-18T23:00:00Z", "2026-01-19T02:00:00Z"),
            ])
    }

    @Test func windowSpanningMidnightStaysOneOpening() throws {
        let windows = try schedule(["Fridays 22:00 Europe/Berlin"])  // 21:00 UTC in winter
        #expect(
            windows.openings(after: utc("2026-01-01T00:00:00Z"), count: 2) == [
                opening("2026-01-02T21:00:00Z", "2026-01-03T01:00:00Z"),
                opening("2026-01-09T21:00:00Z", "2026-01-10T01:00:00Z"),
            ])
    }

    @Test func saturdayNightWindowWrapsIntoSunday() throws {
        let windows = try schedule(["sat:23:00-sun:01:00"])
        let expected = opening("2026-01-10T23:00:00Z", "2026-01-11T01:00:00Z")
        // Late Saturday, before it opens.
        #expect(windows.openings(after: utc("2026-01-10T22:45:00Z"), count: 1) == [expected])
        // Late Saturday, already open: the real start is reported.
        let open = windows.openings(after: utc("2026-01-10T23:30:00Z"), count: 1)
        #expect(open == [expected])
        #expect(open.first?.contains(utc("2026-01-10T23:30:00Z")) == true)
        // Early Sunday, still open.
        #expect(windows.openings(after: utc("2026-01-11T00:59:00Z"), count: 1) == [expected])
        // At its end it is over; next week's follows.
        #expect(
            windows.openings(after: utc("2026-01-11T01:00:00Z"), count: 1) == [
                opening("2026-01-17T23:00:00Z", "2026-01-18T01:00:00Z")
            ])
    }

    @Test func sundayNightWindowWrapsIntoTheNextWeek() throws {
        let windows = try schedule(["sun:23:00-mon:01:00 Asia/Tokyo"])  // Sun 14:00-16:00 UTC
        #expect(
            windows.openings(after: utc("2026-01-11T15:00:00Z"), count: 2) == [
                opening("2026-01-11T14:00:00Z", "2026-01-11T16:00:00Z"),
                opening("2026-01-18T14:00:00Z", "2026-01-18T16:00:00Z"),
            ])
    }

    @Test func longWindowAlreadyOpenForDaysIsFound() throws {
        let windows = try schedule(["Mondays 00:00 for 6d"])
        #expect(
            windows.openings(after: utc("2026-01-11T12:00:00Z"), count: 1) == [
                opening("2026-01-12T00:00:00Z", "2026-01-18T00:00:00Z")
            ])
        #expect(
            windows.openings(after: utc("2026-01-17T23:00:00Z"), count: 1) == [
                opening("2026-01-12T00:00:00Z", "2026-01-18T00:00:00Z")
            ])
    }

    @Test func windowOpenSinceLastWeekIsFound() throws {
        let windows = try schedule(["Mondays 12:00 for 6d20h"])  // Mon 12:00 to next Mon 08:00
        #expect(
            windows.openings(after: utc("2026-01-12T06:00:00Z"), count: 2) == [
                opening("2026-01-05T12:00:00Z", "2026-01-12T08:00:00Z"),
                opening("2026-01-12T12:00:00Z", "2026-01-19T08:00:00Z"),
            ])
    }

    @Test func alwaysOpenScheduleYieldsBackToBackWeeks() throws {
        let windows = try schedule(["Mondays 00:00 for 4d", "fri:00:00-mon:00:00 UTC"])
        let now = utc("2026-01-07T12:00:00Z")
        let openings = windows.openings(after: now, count: 3)
        #expect(openings.count == 3)
        #expect(openings.first?.contains(now) == true)
        #expect(openings.first?.start == utc("2026-01-05T00:00:00Z"))
        for (earlier, later) in zip(openings, openings.dropFirst()) {
            #expect(earlier.end == later.start)
            #expect(earlier.duration >= .seconds(7 * 86_400))
        }
        #expect(windows.nextFitting(after: now, needed: hours(2), margin: .zero)?.start == now)

        // A week-long Berlin window overlaps its successor by the hour lost in spring;
        // openings never overlap.
        let berlin = try schedule(["Mondays 00:00 Europe/Berlin for 7d"])
        #expect(
            berlin.openings(after: utc("2026-03-24T00:00:00Z"), count: 2) == [
                opening("2026-03-22T23:00:00Z", "2026-03-29T23:00:00Z"),
                opening("2026-03-29T23:00:00Z", "2026-04-12T22:00:00Z"),  // merged until a week long
            ])
    }

    @Test func noWindowsMeansNoOpenings() {
        let empty = WindowSchedule(windows: [], freezes: [])
        #expect(empty.openings(after: utc("2026-01-01T00:00:00Z"), count: 3).isEmpty)
        #expect(empty.nextFitting(after: utc("2026-01-01T00:00:00Z"), needed: .seconds(60), margin: .zero) == nil)
    }

    // MARK: Freezes

    @Test func freezeDropsOpeningsInsideItAndClipsTheOneCrossingItsEnd() throws {
        let windows = try schedule(["Sundays 22:00"], freezes: ["2026-12-20..2027-01-03"])
        #expect(
            windows.openings(after: utc("2026-12-14T12:00:00Z"), count: 2) == [
                // Dec 20 and Dec 27 are dropped; Jan 3 22:00 keeps its part after the freeze.
                opening("2027-01-04T00:00:00Z", "2027-01-04T02:00:00Z"),
                opening("2027-01-10T22:00:00Z", "2027-01-11T02:00:00Z"),
            ])
    }

    @Test func freezeClipsTheEndOfAnOpening() throws {
        let windows = try schedule(["Sundays 22:00"], freezes: ["2026-01-12"])
        #expect(
            windows.openings(after: utc("2026-01-10T00:00:00Z"), count: 2) == [
                opening("2026-01-11T22:00:00Z", "2026-01-12T00:00:00Z"),
                opening("2026-01-18T22:00:00Z", "2026-01-19T02:00:00Z"),
            ])
        // nextFitting skips the clipped 2 h opening when 3 h are needed.
        #expect(
            windows.nextFitting(after: utc("2026-01-10T00:00:00Z"), needed: hours(3), margin: .zero)
                == opening("2026-01-18T22:00:00Z", "2026-01-19T02:00:00Z"))
    }

    @Test func freezeInAZoneUsesThatZonesDays() throws {
        // Dec 24-26 in New York is 2026-12-24T05:00Z ..< 2026-12-27T05:00Z.
        let windows = try schedule(
            ["Saturdays 22:00", "Sundays 02:00"], freezes: ["2026-12-24..2026-12-26 America/New_York"])
        #expect(
            windows.openings(after: utc("2026-12-21T00:00:00Z"), count: 2) == [
                // Sat Dec 26 22:00-02:00 and most of Sun Dec 27 02:00-06:00 are frozen.
                opening("2026-12-27T05:00:00Z", "2026-12-27T06:00:00Z"),
                opening("2027-01-02T22:00:00Z", "2027-01-03T06:00:00Z"),  // the two merge
            ])
    }

    @Test func freezeInsideALongOpeningSplitsIt() throws {
        let windows = try schedule(["fri:00:00-mon:00:00"], freezes: ["2026-01-10"])
        #expect(
            windows.openings(after: utc("2026-01-08T00:00:00Z"), count: 3) == [
                opening("2026-01-09T00:00:00Z", "2026-01-10T00:00:00Z"),
                opening("2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z"),
                opening("2026-01-16T00:00:00Z", "2026-01-19T00:00:00Z"),
            ])
        // From inside the freeze, the part before it is over.
        #expect(
            windows.openings(after: utc("2026-01-10T12:00:00Z"), count: 1) == [
                opening("2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z")
            ])
    }

    @Test func fleetAndDatabaseFreezesCombine() throws {
        let fleet = try FreezePeriod.parse("2026-12-20..2027-01-03", reason: "holidays")
        let own = try FreezePeriod.parse("2027-01-02..2027-01-12 Europe/Berlin", reason: "quarter close")
        let windows = WindowSchedule(windows: [try MaintenanceWindow.parse("Sundays 22:00")], freezes: [own, fleet])
        // The Berlin freeze ends at 2027-01-12T23:00Z.
        #expect(
            windows.openings(after: utc("2026-12-14T12:00:00Z"), count: 1) == [
                opening("2027-01-17T22:00:00Z", "2027-01-18T02:00:00Z")
            ])
    }

    @Test func longFreezeIsSkippedWithoutStepping() throws {
        let windows = try schedule(["Sundays 22:00"], freezes: ["2026-01-01..2030-12-31"])
        #expect(
            windows.openings(after: utc("2026-01-01T00:00:00Z"), count: 1) == [
                opening("2031-01-05T22:00:00Z", "2031-01-06T02:00:00Z")
            ])
        // Beyond the 366-day horizon for nextFitting.
        #expect(windows.nextFitting(after: utc("2026-01-01T00:00:00Z"), needed: hours(1), margin: .zero) == nil)
    }

    // MARK: nextFitting

    @Test func insideAWindowWithEnoughLeftStartsNow() throws {
        let windows = try schedule(["Sundays 22:00"])
        let now = utc("2026-01-11T23:00:00Z")
        #expect(
            windows.nextFitting(after: now, needed: minutes(30), margin: minutes(15))
                == WindowOpening(start: now, end: utc("2026-01-12T02:00:00Z")))
        // Exactly needed + margin left still fits.
        let edge = utc("2026-01-12T01:15:00Z")
        #expect(
            windows.nextFitting(after: edge, needed: minutes(30), margin: minutes(15))
                == WindowOpening(start: edge, end: utc("2026-01-12T02:00:00Z")))
    }

    @Test func insideAWindowWithTooLittleLeftWaitsForTheNext() throws {
        let windows = try schedule(["Sundays 22:00"])
        // One second short of needed + margin.
        #expect(
            windows.nextFitting(after: utc("2026-01-12T01:15:01Z"), needed: minutes(30), margin: minutes(15))
                == opening("2026-01-18T22:00:00Z", "2026-01-19T02:00:00Z"))
    }

    @Test func windowTooShortIsSkippedForALongerOne() throws {
        let windows = try schedule(["Tuesdays 10:00 for 30m", "Thursdays 10:00 for 2h"])
        let monday = utc("2026-01-05T00:00:00Z")
        #expect(
            windows.nextFitting(after: monday, needed: minutes(25), margin: minutes(10))
                == opening("2026-01-08T10:00:00Z", "2026-01-08T12:00:00Z"))
        // Margin counts: 20 + 10 fits the 30-minute window.
        #expect(
            windows.nextFitting(after: monday, needed: minutes(20), margin: minutes(10))
                == opening("2026-01-06T10:00:00Z", "2026-01-06T10:30:00Z"))
        // Nothing is long enough.
        #expect(windows.nextFitting(after: monday, needed: hours(2), margin: minutes(1)) == nil)
    }

    @Test func deadlineBoundsTheStart() throws {
        let windows = try schedule(["Sundays 22:00"])
        let now = utc("2026-01-06T00:00:00Z")  // Tuesday
        #expect(
            windows.nextFitting(after: now, needed: hours(1), margin: .zero, notAfter: utc("2026-01-11T21:59:59Z"))
                == nil)
        #expect(
            windows.nextFitting(after: now, needed: hours(1), margin: .zero, notAfter: utc("2026-01-11T22:00:00Z"))
                == opening("2026-01-11T22:00:00Z", "2026-01-12T02:00:00Z"))
        // The first opening is too short for 5 h; the deadline stops the search before the
        // (equally short) next one would even be looked at.
        #expect(
            windows.nextFitting(after: now, needed: hours(5), margin: .zero, notAfter: utc("2026-03-01T00:00:00Z"))
                == nil)
        // Inside a window, a deadline in the past of the window's start but not of now.
        let inside = utc("2026-01-11T23:00:00Z")
        #expect(
            windows.nextFitting(after: inside, needed: hours(1), margin: .zero, notAfter: inside)
                == WindowOpening(start: inside, end: utc("2026-01-12T02:00:00Z")))
        #expect(
            windows.nextFitting(after: inside, needed: hours(1), margin: .zero, notAfter: utc("2026-01-11T22:30:00Z"))
                == nil)
    }

    @Test func freezeIsNeverPartOfAFittingOpening() throws {
        let windows = try schedule(["Sundays 22:00"], freezes: ["2026-01-12"])
        // Inside the Jan 11 opening with 1 h 30 min left before the freeze at midnight.
        let now = utc("2026-01-11T22:30:00Z")
        #expect(
            windows.nextFitting(after: now, needed: hours(1), margin: minutes(30))
                == WindowOpening(start: now, end: utc("2026-01-12T00:00:00Z")))
        #expect(
            windows.nextFitting(after: now, needed: hours(1), margin: minutes(31))
                == opening("2026-01-18T22:00:00Z", "2026-01-19T02:00:00Z"))
    }
}

@Suite struct WindowOpeningTests {
    @Test func containsIsHalfOpenAndDurationIsElapsed() {
        let opening = WindowOpening(start: utc("2026-01-11T22:00:00Z"), end: utc("2026-01-12T02:00:00Z"))
        #expect(opening.contains(utc("2026-01-11T22:00:00Z")))
        #expect(opening.contains(utc("2026-01-12T01:59:59Z")))
        #expect(!opening.contains(utc("2026-01-12T02:00:00Z")))
        #expect(!opening.contains(utc("2026-01-11T21:59:59Z")))
        #expect(opening.duration == hours(4))
        #expect(opening.description == "2026-01-11T22:00:00Z ..< 2026-01-12T02:00:00Z (4h)")
    }
}

@Suite struct FreezePeriodTests {
    @Test func parsesRangesSingleDaysAndZones() throws {
        let holidays = try FreezePeriod.parse("2026-12-20..2027-01-03", reason: "holidays")
        #expect(holidays.start == utc("2026-12-20T00:00:00Z"))
        #expect(holidays.end == utc("2027-01-04T00:00:00Z"))
        #expect(holidays.reason == "holidays")
        #expect(try FreezePeriod.parse("2026-12-20…2027-01-03") == FreezePeriod.parse("2026-12-20 to 2027-01-03"))
        let berlin = try FreezePeriod.parse("2026-12-25 Europe/Berlin")
        #expect(berlin.start == utc("2026-12-24T23:00:00Z"))
        #expect(berlin.end == utc("2026-12-25T23:00:00Z"))
    }

    @Test func decodesObjectsAndStrings() throws {
        let json = #"""
            [{"first": "2026-12-20", "last": "2027-01-03", "zone": "Europe/Berlin", "reason": "holidays"},
             "2027-02-01..2027-02-02"]
            """#
        let freezes = try JSONDecoder().decode([FreezePeriod].self, from: Data(json.utf8))
        #expect(freezes.count == 2)
        #expect(freezes[0].start == utc("2026-12-19T23:00:00Z"))
        #expect(freezes[0].reason == "holidays")
        #expect(freezes[1].end == utc("2027-02-03T00:00:00Z"))
        let again = try JSONDecoder().decode([FreezePeriod].self, from: JSONEncoder().encode(freezes))
        #expect(again == freezes)
    }

    static let malformed: [(String, String)] = [
        ("2026-13-01", #"bad date "2026-13-01" in "2026-13-01" (use YYYY-MM-DD)"#),
        ("2026-02-29..2026-03-01", #"bad date "2026-02-29" in "2026-02-29..2026-03-01" (use YYYY-MM-DD)"#),
        (
            "2026-12-20..2026-12-01",
            #"freeze ends (2026-12-01) before it starts (2026-12-20) in "2026-12-20..2026-12-01""#
        ),
        (
            "2026-12-20 Europe/Berln",
            #"unknown time zone "Europe/Berln" in "2026-12-20 Europe/Berln" (use an IANA name like Europe/Berlin)"#
        ),
    ]

    @Test(arguments: malformed)
    func malformedFreezesNameTheBadPart(_ text: String, _ message: String) {
        do {
            _ = try FreezePeriod.parse(text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.description == message)
        }
    }
}
