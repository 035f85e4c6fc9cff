import ChangeoverCore
import Foundation
import Testing

/// The daylight-saving rules documented on `MaintenanceWindow`, checked at exact UTC instants.
@Suite struct MaintenanceWindowDaylightSavingTests {
    func starts(_ spec: String, after: String, count: Int = 3) throws -> [Date] {
        try WindowSchedule(windows: [MaintenanceWindow.parse(spec)])
            .openings(after: utc(after), count: count).map(\.start)
    }

    @Test func berlinSpringForwardStartsAtFirstInstantAfterTheGap() throws {
        // 2026-03-29: 02:00 CET → 03:00 CEST at 01:00 UTC; 02:30 does not exist that day.
        let openings = try WindowSchedule(windows: [MaintenanceWindow.parse("Sundays 02:30 Europe/Berlin")])
            .openings(after: utc("2026-03-21T00:00:00Z"), count: 3)
        #expect(
            openings == [
                WindowOpening(start: utc("2026-03-22T01:30:00Z"), end: utc("2026-03-22T05:30:00Z")),  // CET
                WindowOpening(start: utc("2026-03-29T01:00:00Z"), end: utc("2026-03-29T05:00:00Z")),  // 03:00 CEST
                WindowOpening(start: utc("2026-04-05T00:30:00Z"), end: utc("2026-04-05T04:30:00Z")),  // CEST
            ])
    }

    @Test func berlinFallBackStartsAtFirstOccurrence() throws {
        // 2026-10-25: 03:00 CEST → 02:00 CET at 01:00 UTC; 02:30 happens at 00:30 and 01:30 UTC.
        let openings = try WindowSchedule(windows: [MaintenanceWindow.parse("Sundays 02:30 Europe/Berlin")])
            .openings(after: utc("2026-10-17T00:00:00Z"), count: 3)
        #expect(
            openings == [
                WindowOpening(start: utc("2026-10-18T00:30:00Z"), end: utc("2026-10-18T04:30:00Z")),
                // First 02:30 (CEST); four elapsed hours end at 05:30 CET.
                WindowOpening(start: utc("2026-10-25T00:30:00Z"), end: utc("2026-10-25T04:30:00Z")),
                WindowOpening(start: utc("2026-11-01T01:30:00Z"), end: utc("2026-11-01T05:30:00Z")),
            ])
    }

    @Test func newYorkSpringForwardStartsAtFirstInstantAfterTheGap() throws {
        // 2026-03-08: 02:00 EST → 03:00 EDT at 07:00 UTC.
        #expect(
            try starts("Sundays 02:30 America/New_York", after: "2026-03-01T00:00:00Z") == [
                utc("2026-03-01T07:30:00Z"),  // 02:30 EST
                utc("2026-03-08T07:00:00Z"),  // 03:00 EDT
                utc("2026-03-15T06:30:00Z"),  // 02:30 EDT
            ])
    }

    @Test func newYorkFallBackStartsAtFirstOccurrence() throws {
        // 2026-11-01: 02:00 EDT → 01:00 EST at 06:00 UTC; 01:30 happens at 05:30 and 06:30 UTC.
        let openings = try WindowSchedule(windows: [MaintenanceWindow.parse("Sundays 01:30 America/New_York for 2h")])
            .openings(after: utc("2026-10-24T00:00:00Z"), count: 3)
        #expect(
            openings == [
                WindowOpening(start: utc("2026-10-25T05:30:00Z"), end: utc("2026-10-25T07:30:00Z")),
                WindowOpening(start: utc("2026-11-01T05:30:00Z"), end: utc("2026-11-01T07:30:00Z")),
                WindowOpening(start: utc("2026-11-08T06:30:00Z"), end: utc("2026-11-08T08:30:00Z")),
            ])
    }

    @Test func sydneyTransitionsFollowTheSameRules() throws {
        // 2026-04-05: 03:00 AEDT → 02:00 AEST at 16:00 UTC on the 4th; first 02:30 is AEDT.
        #expect(
            try starts("Sundays 02:30 Australia/Sydney", after: "2026-04-04T00:00:00Z", count: 1) == [
                utc("2026-04-04T15:30:00Z")
            ])
        // 2026-10-04: 02:00 AEST → 03:00 AEDT at 16:00 UTC on the 3rd.
        #expect(
            try starts("Sundays 02:30 Australia/Sydney", after: "2026-10-03T00:00:00Z", count: 1) == [
                utc("2026-10-03T16:00:00Z")
            ])
    }

    @Test func localWindowsKeepTheirWallClockTime() throws {
        #expect(
            try starts("Sundays 22:00 Europe/Berlin", after: "2026-01-10T00:00:00Z", count: 1) == [
                utc("2026-01-11T21:00:00Z")
            ])
        #expect(
            try starts("Sundays 22:00 Europe/Berlin", after: "2026-07-10T00:00:00Z", count: 1) == [
                utc("2026-07-12T20:00:00Z")
            ])
        #expect(
            try starts("Sundays 22:00 America/New_York", after: "2026-01-10T00:00:00Z", count: 1) == [
                utc("2026-01-12T03:00:00Z")
            ])
        #expect(
            try starts("Sundays 22:00 America/New_York", after: "2026-07-10T00:00:00Z", count: 1) == [
                utc("2026-07-13T02:00:00Z")
            ])
        // A UTC window does not move.
        #expect(
            try starts("Sundays 22:00", after: "2026-07-10T00:00:00Z", count: 1) == [
                utc("2026-07-12T22:00:00Z")
            ])
    }

    @Test func lengthIsElapsedTimeAcrossAChange() throws {
        // Saturday 23:00 CET on the spring-forward night: 4 real hours end at 04:00 CEST.
        let spring = try WindowSchedule(windows: [MaintenanceWindow.parse("Saturdays 23:00 Europe/Berlin")])
            .openings(after: utc("2026-03-27T00:00:00Z"), count: 1)
        #expect(spring == [WindowOpening(start: utc("2026-03-28T22:00:00Z"), end: utc("2026-03-29T02:00:00Z"))])
        #expect(spring.first?.duration == hours(4))
        // Saturday 23:00 CEST on the fall-back night: 4 real hours end at 02:00 CET.
        let fall = try WindowSchedule(windows: [MaintenanceWindow.parse("Saturdays 23:00 Europe/Berlin")])
            .openings(after: utc("2026-10-23T00:00:00Z"), count: 1)
        #expect(fall == [WindowOpening(start: utc("2026-10-24T21:00:00Z"), end: utc("2026-10-25T01:00:00Z"))])
        // An RDS range in a zone is measured on a normal week's wall clock: 3 h 30 min.
        let rds = try WindowSchedule(windows: [MaintenanceWindow.parse("sun:00:30-sun:04:00 America/New_York")])
            .openings(after: utc("2026-03-07T00:00:00Z"), count: 1)
        #expect(rds == [WindowOpening(start: utc("2026-03-08T05:30:00Z"), end: utc("2026-03-08T09:00:00Z"))])
    }

    @Test func freezeDaysFollowTheZonesMidnight() throws {
        let freeze = try FreezePeriod.parse("2026-03-29 Europe/Berlin")
        #expect(freeze.start == utc("2026-03-28T23:00:00Z"))  // midnight CET
        #expect(freeze.end == utc("2026-03-29T22:00:00Z"))  // next midnight CEST: a 23-hour day
        // America/Santiago springs forward at midnight: 2026-09-06 00:00 does not exist.
        let santiago = try FreezePeriod.parse("2026-09-06 America/Santiago")
        #expect(santiago.start == utc("2026-09-06T04:00:00Z"))  // 01:00 -03, first instant after the gap
    }
}
