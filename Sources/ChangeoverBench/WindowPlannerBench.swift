// The maintenance-window planner's benchmark: the next fitting window for a whole fleet.
import ChangeoverCore
import ChangeoverLab
import Foundation

/// Times `WindowSchedule.nextFitting` over a deterministic fleet of `databaseCount` databases
/// with 1–3 windows each in 20 zones, the fleet-wide holiday freeze and 1–2 freezes of their own.
/// One database of the benchmarks' fleet: its schedule, when it is planned, how long it needs.
struct BenchFleetEntry {
    var schedule: WindowSchedule
    var now: Date
    var needed: Duration
}

/// A deterministic fleet of `databaseCount` databases with 1–3 windows each in 20 zones, the
/// fleet-wide holiday freeze and 1–2 freezes of their own.
func benchFleet(databaseCount: Int) throws -> (fleet: [BenchFleetEntry], build: Duration) {
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

    let clock = ContinuousClock()
    var jobs: [BenchFleetEntry] = []
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
                BenchFleetEntry(
                    schedule: WindowSchedule(windows: windows, freezes: freezes),
                    now: base + TimeInterval(Int.random(in: 0..<(21 * 86_400), using: &random)),
                    needed: .seconds(Int.random(in: 60...1800, using: &random))))
        }
    }

    return (jobs, buildTime)
}

func benchWindowPlanner(databaseCount: Int = 100_000) throws -> (build: Duration, plan: Duration, found: Int) {
    let (jobs, buildTime) = try benchFleet(databaseCount: databaseCount)
    let clock = ContinuousClock()
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

/// Times `CampaignPlanner.plan` over the same fleet as an inventory: two tiers (5% staging,
/// the rest production), 500 hosts, a tenth already on the new image, waves
/// staging,canary:5%,production (the canary a sample of production).
func benchCampaignPlanner(databaseCount: Int = 100_000) throws -> (plan: Duration, members: Int, waves: Int) {
    let (fleet, _) = try benchFleet(databaseCount: databaseCount)
    let entries = fleet.enumerated().map { index, job in
        CampaignEntry(
            database: "db\(index)", engine: index % 3 == 0 ? .redis : .postgres,
            image: index % 10 == 7 ? "patched" : "current",
            tier: index % 20 == 0 ? "staging" : "production",
            host: "host\(index % 500)", schedule: job.schedule, needed: job.needed)
    }
    let waves = try CampaignWave.parse("staging,canary:5%,production")
    let clock = ContinuousClock()
    var plan: CampaignPlan?
    let elapsed = try clock.measure {
        plan = try CampaignPlanner.plan(
            entries: entries, waves: waves, image: "patched", from: "current",
            now: fleet[0].now, margin: .seconds(600))
    }
    return (elapsed, plan?.memberCount ?? 0, plan?.waves.count ?? 0)
}
