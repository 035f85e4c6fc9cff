import ChangeoverCore
import Foundation
import Testing

/// One-off windows (a slot agreed once) among the weekly ones: merged, frozen, spent.
@Suite struct WindowScheduleOneOffTests {
    func opening(_ start: String, _ end: String) -> WindowOpening {
        WindowOpening(start: utc(start), end: utc(end))
    }

    @Test func oneOffWindowsComeInOrderWithTheWeeklyOnes() throws {
        let schedule = WindowSchedule(
            windows: [try MaintenanceWindow.parse("Sundays 22:00 for 1h")],
            oneOff: [
                opening("2026-01-14T10:00:00Z", "2026-01-14T10:00:20Z"),
                opening("2026-01-06T08:00:00Z", "2026-01-06T09:00:00Z"),
            ])
        #expect(
            schedule.openings(after: utc("2026-01-05T00:00:00Z"), count: 4) == [
                opening("2026-01-06T08:00:00Z", "2026-01-06T09:00:00Z"),
                opening("2026-01-11T22:00:00Z", "2026-01-11T23:00:00Z"),
                opening("2026-01-14T10:00:00Z", "2026-01-14T10:00:20Z"),
                opening("2026-01-18T22:00:00Z", "2026-01-18T23:00:00Z"),
            ])
    }

    @Test func aOneOffWindowTouchingAWeeklyOneMergesWithIt() throws {
        let schedule = WindowSchedule(
            windows: [try MaintenanceWindow.parse("Sundays 22:00 for 1h")],
            oneOff: [opening("2026-01-11T23:00:00Z", "2026-01-12T00:30:00Z")])
        #expect(
            schedule.openings(after: utc("2026-01-05T00:00:00Z"), count: 1) == [
                opening("2026-01-11T22:00:00Z", "2026-01-12T00:30:00Z")
            ])
    }

    @Test func spentAndFrozenOneOffWindowsAreGone() throws {
        let schedule = WindowSchedule(
            windows: [], freezes: [try FreezePeriod.parse("2026-01-10..2026-01-10")],
            oneOff: [
                opening("2026-01-02T10:00:00Z", "2026-01-02T11:00:00Z"),
                opening("2026-01-10T10:00:00Z", "2026-01-10T11:00:00Z"),
                opening("2026-01-10T23:00:00Z", "2026-01-11T01:00:00Z"),
            ])
        #expect(
            schedule.openings(after: utc("2026-01-05T00:00:00Z"), count: 5) == [
                opening("2026-01-11T00:00:00Z", "2026-01-11T01:00:00Z")
            ])
        #expect(schedule.openings(after: utc("2026-01-12T00:00:00Z"), count: 5).isEmpty)
        #expect(schedule.nextFitting(after: utc("2026-01-12T00:00:00Z"), needed: .seconds(1), margin: .zero) == nil)
    }

    @Test func anOpenOneOffWindowIsReportedWithItsRealStart() {
        let schedule = WindowSchedule(windows: [], oneOff: [opening("2026-01-02T10:00:00Z", "2026-01-02T10:01:00Z")])
        #expect(
            schedule.nextFitting(after: utc("2026-01-02T10:00:30Z"), needed: .seconds(20), margin: .seconds(5))
                == opening("2026-01-02T10:00:30Z", "2026-01-02T10:01:00Z"))
        #expect(
            schedule.nextFitting(after: utc("2026-01-02T10:00:40Z"), needed: .seconds(20), margin: .seconds(5)) == nil)
    }
}
