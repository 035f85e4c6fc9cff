import Foundation
import Testing

@testable import ChangeoverCore

/// Which reminder is due when: pure, the instant passed in.
@Suite struct NotifyReminderPlanTests {
    let window = utc("2026-05-03T20:00:00Z")
    var plan: ReminderPlan { ReminderPlan(before: [hours(24), hours(1)], target: window) }

    @Test func nothingIsDueBeforeTheFirstReminder() {
        #expect(plan.due(at: window.addingTimeInterval(-25 * 3600), sent: []) == nil)
        #expect(
            plan.nextDue(after: window.addingTimeInterval(-25 * 3600), sent: [])
                == window.addingTimeInterval(-24 * 3600))
    }

    @Test func eachReminderIsDueOnceAtItsMoment() throws {
        var facts: Facts = [:]
        let first = try #require(
            plan.due(at: window.addingTimeInterval(-24 * 3600), sent: ReminderPlan.sent(in: facts)))
        #expect(first.reminder == hours(24) && first.keys == ["24h@2026-05-03T20:00:00Z"])
        ReminderPlan.record(first.keys, in: &facts)
        #expect(plan.due(at: window.addingTimeInterval(-2 * 3600), sent: ReminderPlan.sent(in: facts)) == nil)
        #expect(
            plan.nextDue(after: window.addingTimeInterval(-2 * 3600), sent: ReminderPlan.sent(in: facts))
                == window.addingTimeInterval(-3600))
        let second = try #require(plan.due(at: window.addingTimeInterval(-3599), sent: ReminderPlan.sent(in: facts)))
        #expect(second.reminder == hours(1))
        ReminderPlan.record(second.keys, in: &facts)
        #expect(facts[ReminderPlan.fact] == "1h@2026-05-03T20:00:00Z,24h@2026-05-03T20:00:00Z")
        #expect(plan.due(at: window.addingTimeInterval(-1), sent: ReminderPlan.sent(in: facts)) == nil)
        #expect(plan.nextDue(after: window.addingTimeInterval(-1), sent: ReminderPlan.sent(in: facts)) == nil)
    }

    /// Scheduled 30 minutes ahead: both reminders are past due; one is sent (the nearer), both count as sent.
    @Test func remindersPastDueWhenSchedulingStartsCollapseIntoTheNearest() throws {
        let due = try #require(plan.due(at: window.addingTimeInterval(-1800), sent: []))
        #expect(due.reminder == hours(1))
        #expect(Set(due.keys) == ["24h@2026-05-03T20:00:00Z", "1h@2026-05-03T20:00:00Z"])
    }

    @Test func noReminderOnceTheWindowHasOpened() {
        #expect(plan.due(at: window, sent: []) == nil)
        #expect(plan.due(at: window.addingTimeInterval(60), sent: []) == nil)
    }

    /// Moved to the next week's window: its reminders are due afresh.
    @Test func aMovedSwitchoverIsRemindedAgain() throws {
        var facts: Facts = [:]
        ReminderPlan.record(try #require(plan.due(at: window.addingTimeInterval(-600), sent: [])).keys, in: &facts)
        let next = ReminderPlan(before: [hours(24), hours(1)], target: window.addingTimeInterval(7 * 86_400))
        let due = try #require(next.due(at: window.addingTimeInterval(6 * 86_400), sent: ReminderPlan.sent(in: facts)))
        #expect(due.reminder == hours(24) && due.keys == ["24h@2026-05-10T20:00:00Z"])
    }

    @Test func durationsAreWrittenAsTheConfigWritesThem() {
        #expect(ReminderPlan.text(hours(24)) == "24h")
        #expect(ReminderPlan.text(minutes(90)) == "90m")
        #expect(ReminderPlan.text(.seconds(8)) == "8s")
        #expect(ReminderPlan.text(.milliseconds(1500)) == "1500ms")
    }
}
