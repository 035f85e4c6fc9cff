// The maintenance-window planner's benchmark: the next fitting window for a whole fleet.
import ChangeoverCore
import ChangeoverLab
import Foundation

/// Times `WindowSchedule.nextFitting` over a deterministic fleet of `databaseCount` databases
/// with 1–3 windows each in 20 zones, the fleet-wide holiday freeze and 1–2 freezes of their own.
func benchWindowPlanner(databaseCount: Int = 100_000) throws -> (build: Duration, plan: Duration, found: Int) {
    let zoneNames = [
        "UTC", "Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Moscow",
        "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
        "America/Sao_Paulo", "America/Santiago", "Asia/Tokyo", "Asia/Kolkata", "Asia/Shanghai",
        "Asia/Singapore", "Asia/Kathmandu", "Australia/Sydney", "Australia/Adelaide",
        "Pacific/Auckland", "Africa/Johannesburg",
    ]
    let zones = zoneNames.map { TimeZone(identifier: $0)! }

    var random = PropertyGenerator(seed: 0x00C0_FFEE)
    let holidays = try FreezePeriod.parse("2026-12-20..2027-01-03", reason: "holidays")
    let base = Date(timeIntervalSince1970: 1_796_893_200)  // 2026-12-10T09:00:00Z
    let lengths: [Duration] = [.seconds(30 * 60), .seconds(3600), .seconds(2 * 3600), .seconds(4 * 3600)]

    struct Job {
        var schedule: WindowSchedule
        var now: Date
        var needed: Duration
    }

    let clock = ContinuousClock()
    var jobs: [Job] = []
    jobs.reserveCapacity(databaseCount)
    let buildTime = try clock.measure {
        for _ in 0..<databaseCount {
            var windows: [MaintenanceWindow] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                windows.append(
                    try MaintenanceWindow(
                        day: MaintenanceWindow.Day.allCases.randomElement(using: &random)!,
                        hour: Int.random(in: 0...23, using: &random),
                        minute: Bool.random(using: &random) ? 0 : 30,
                        duration: lengths.randomElement(using: &random)!,
                        timeZone: zones.randomElement(using: &random)!))
            }
            var freezes = [holidays]
            for _ in 0..<Int.random(in: 1...2, using: &random) {
                let first = try FreezePeriod.CalendarDate(
                    year: 2026, month: Int.random(in: 11...12, using: &random),
                    day: Int.random(in: 1...28, using: &random))
                let last = try FreezePeriod.CalendarDate(
                    year: 2027, month: 1, day: Int.random(in: 1...28, using: &random))
                freezes.append(
                    try FreezePeriod(
                        first: Bool.random(using: &random) ? first : last, last: last,
                        timeZone: zones.randomElement(using: &random)!, reason: "customer freeze"))
            }
            jobs.append(
                Job(
                    schedule: WindowSchedule(windows: windows, freezes: freezes),
                    now: base + TimeInterval(Int.random(in: 0..<(21 * 86_400), using: &random)),
                    needed: .seconds(Int.random(in: 60...1800, using: &random))))
        }
    }

    var found = 0
    var checksum = 0.0
    let elapsed = clock.measure {
        for job in jobs {
            if let opening = job.schedule.nextFitting(
                after: job.now, needed: job.needed, margin: .seconds(600))
            {
                found += 1
                checksum += opening.start.timeIntervalSince1970
            }
        }
    }

    return (buildTime, elapsed, found)
}
