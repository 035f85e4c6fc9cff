import ChangeoverLab
import Foundation
import Testing

@testable import ChangeoverCore

/// The await-window decision and the provisioning plan: pure, the instant passed in.
@Suite struct SwitchoverGateTests {
    let minutes = { (n: Int64) in Duration.seconds(n * 60) }

    func gate(
        _ specs: [String], oneOff: [WindowOpening] = [], needed: Duration = .seconds(600),
        margin: Duration = .seconds(300),
        deadline: Date? = nil
    ) throws -> SwitchoverGate {
        SwitchoverGate(
            schedule: WindowSchedule(windows: try specs.map { try MaintenanceWindow.parse($0) }, oneOff: oneOff),
            needed: needed, margin: margin, deadline: deadline)
    }

    @Test func opensInsideAWindowWithRoom() throws {
        let gate = try gate(["Sundays 22:00 Europe/Berlin for 2h"])  // 21:00-23:00 UTC in winter
        let now = utc("2026-01-11T21:30:00Z")
        #expect(gate.decide(at: now) == .open(WindowOpening(start: now, end: utc("2026-01-11T23:00:00Z"))))
        #expect(
            gate.describe(gate.decide(at: now), at: now, zone: zone("Europe/Berlin"))
                == "the window is open until Mon 00:00 Europe/Berlin (1 h 30 min left)")
    }

    @Test func waitsForTheNextWindowAndSaysWhenItOpens() throws {
        let gate = try gate(["Sundays 22:00 Europe/Berlin"])
        let now = utc("2026-01-11T17:48:00Z")
        let decision = gate.decide(at: now)
        #expect(
            decision
                == .wait(
                    until: utc("2026-01-11T21:00:00Z"),
                    opening: WindowOpening(start: utc("2026-01-11T21:00:00Z"), end: utc("2026-01-12T01:00:00Z")),
                    skipped: []))
        #expect(
            gate.describe(decision, at: now, zone: zone("Europe/Berlin"))
                == "the window Sun 22:00 Europe/Berlin opens in 3 h 12 min (2026-01-11T21:00:00Z)")
    }

    /// The fit rule at the end of a window: 14 min left is less than 10 min + 5 min margin.
    @Test func aWindowWithTooLittleLeftMovesToTheNextOne() throws {
        let gate = try gate(["Sundays 22:00 Europe/Berlin for 1h"])
        let now = utc("2026-01-11T21:46:00Z")
        guard case .wait(let until, let opening, let skipped) = gate.decide(at: now) else {
            Issue.record("expected to wait")
            return
        }
        #expect(until == utc("2026-01-18T21:00:00Z"))
        #expect(opening?.start == until)
        #expect(skipped == [WindowOpening(start: utc("2026-01-11T21:00:00Z"), end: utc("2026-01-11T22:00:00Z"))])
        let text = gate.describe(gate.decide(at: now), at: now, zone: zone("Europe/Berlin"))
        #expect(
            text.contains("the window open now has 14 min left, too short for the switchover (10 min + 5 min margin)"),
            "\(text)")
        #expect(text.hasSuffix("moved to the next window that fits"))
    }

    @Test func aOneOffWindowTooShortIsSkippedForTheWeeklyOne() throws {
        let now = utc("2026-01-05T10:00:00Z")
        let short = WindowOpening(start: utc("2026-01-05T10:00:08Z"), end: utc("2026-01-05T10:00:11Z"))
        let gate = try gate(["Sundays 03:00"], oneOff: [short], needed: .seconds(5), margin: .seconds(2))
        let decision = gate.decide(at: now)
        #expect(
            decision
                == .wait(
                    until: utc("2026-01-11T03:00:00Z"),
                    opening: WindowOpening(start: utc("2026-01-11T03:00:00Z"), end: utc("2026-01-11T07:00:00Z")),
                    skipped: [short]))
        let text = gate.describe(decision, at: now, zone: zone("UTC"))
        #expect(text.contains("the window Mon 10:00:08 UTC (2026-01-05T10:00:08Z) lasts 3 s, too short"), "\(text)")
    }

    @Test func aOneOffWindowWithRoomOpensToTheSecond() throws {
        let start = utc("2026-01-05T10:00:08Z")
        let gate = try gate(
            [], oneOff: [WindowOpening(start: start, end: start.addingTimeInterval(30))], needed: .seconds(5),
            margin: .seconds(2))
        #expect(
            gate.decide(at: start.addingTimeInterval(-0.5))
                == .wait(
                    until: start, opening: WindowOpening(start: start, end: start.addingTimeInterval(30)), skipped: []))
        #expect(gate.decide(at: start) == .open(WindowOpening(start: start, end: start.addingTimeInterval(30))))
        // 6 s left < 5 s + 2 s: not any more, and nothing later.
        guard case .never = gate.decide(at: start.addingTimeInterval(24)) else {
            Issue.record("a spent one-off window still fits")
            return
        }
    }

    @Test func aDeadlineBeforeAnyFittingWindowForcesTheSwitchover() throws {
        let deadline = utc("2026-01-08T12:00:00Z")
        let gate = try gate(["Sundays 22:00 Europe/Berlin"], deadline: deadline)
        let before = utc("2026-01-08T10:00:00Z")
        #expect(gate.decide(at: before) == .wait(until: deadline, opening: nil, skipped: []))
        #expect(
            gate.describe(gate.decide(at: before), at: before, zone: zone("Europe/Berlin")).contains(
                "the switchover will be forced then"))
        guard case .forced(let reason) = gate.decide(at: deadline) else {
            Issue.record("the deadline did not force it")
            return
        }
        #expect(
            reason
                == "the deadline 2026-01-08T12:00:00Z has come and no maintenance window with room for the switchover opened before it"
        )
    }

    @Test func aWindowBeforeTheDeadlineIsStillPreferred() throws {
        let gate = try gate(["Sundays 22:00 Europe/Berlin"], deadline: utc("2026-01-12T12:00:00Z"))
        #expect(
            gate.decide(at: utc("2026-01-08T10:00:00Z"))
                == .wait(
                    until: utc("2026-01-11T21:00:00Z"),
                    opening: WindowOpening(start: utc("2026-01-11T21:00:00Z"), end: utc("2026-01-12T01:00:00Z")),
                    skipped: []))
    }

    /// Only too-short windows before the deadline: forced, and the reason says they were too short.
    @Test func theForcedReasonNamesWindowsThatWereTooShort() throws {
        let gate = try gate(
            ["Wednesdays 10:00 for 30m"], needed: .seconds(1800), margin: .seconds(600),
            deadline: utc("2026-01-09T00:00:00Z"))
        guard case .forced(let reason) = gate.decide(at: utc("2026-01-09T00:00:00Z")) else {
            Issue.record("not forced")
            return
        }
        #expect(
            reason.contains("the windows before it were too short for the switchover (30 min + 10 min margin)"),
            "\(reason)")
    }

    @Test func noWindowsAndNoDeadlineNeverSwitch() throws {
        guard case .never(let reason) = try gate([]).decide(at: utc("2026-01-01T00:00:00Z")) else {
            Issue.record("expected never")
            return
        }
        #expect(reason.contains("no maintenance windows"))
    }

    // MARK: provisioning plans

    @Test func provisioningStartsTheLeadTimeBeforeTheWindow() throws {
        let gate = try gate(["Sundays 22:00 Europe/Berlin"])
        let lead = SwitchoverEstimate.Lead(duration: .seconds(25 * 60), basis: "test")
        let estimate = SwitchoverEstimate.Estimate(duration: .seconds(600), basis: "test")
        let early = StartPlan(gate: gate, estimate: estimate, lead: lead, now: utc("2026-01-11T17:48:00Z"))
        #expect(early.startAt == utc("2026-01-11T20:35:00Z"))
        #expect(!early.isDue(at: utc("2026-01-11T20:34:59Z")))
        #expect(early.isDue(at: utc("2026-01-11T20:35:00Z")))
        #expect(
            early.describe(gate: gate, at: utc("2026-01-11T17:48:00Z"), zone: zone("Europe/Berlin"))
                .hasPrefix(
                    "provisioning starts in 2 h 47 min (2026-01-11T20:35:00Z, lead 25 min: test); the window Sun 22:00 Europe/Berlin opens in 3 h 12 min"
                ))
        let inside = StartPlan(gate: gate, estimate: estimate, lead: lead, now: utc("2026-01-11T21:30:00Z"))
        #expect(inside.isDue(at: utc("2026-01-11T21:30:00Z")))
        let never = StartPlan(gate: try self.gate([]), estimate: estimate, lead: lead, now: utc("2026-01-11T21:30:00Z"))
        #expect(never.startAt == nil && !never.isDue(at: .distantFuture))
    }

    // MARK: estimates

    func done(_ database: String, switchover ms: [Double], bytes: Int64? = nil, seconds: Double? = nil, at: Date)
        -> ChangeoverRecord
    {
        var facts: Facts = [:]
        if let bytes, let seconds {
            facts["basebackup.bytes"] = String(bytes)
            facts["basebackup.seconds"] = String(seconds)
        }
        let steps: [ChangeoverStep] = [.fence, .finalSync, .promote, .repoint, .verify, .settle]
        return ChangeoverRecord(
            id: "\(database)-\(at.timeIntervalSince1970)", database: database, fromImage: "a", toImage: "b",
            machine: ChangeoverMachine(step: .done), startedAt: at, updatedAt: at, facts: facts,
            timings: [.init(step: .catchUp, milliseconds: 60_000, outcome: "succeeded")]
                + zip(steps, ms).map { .init(step: $0, milliseconds: $1, outcome: "succeeded") })
    }

    @Test func theSwitchoverEstimateIsThreeTimesTheLongestOfTheLastFive() {
        var policy = SchedulingPolicy()
        policy.switchoverEstimate = .seconds(300)
        #expect(
            SwitchoverEstimate.switchover(history: [], database: "orders", policy: policy).duration == .seconds(300))
        let records = [
            done("orders", switchover: [100, 50, 150, 100, 50, 50], at: utc("2026-01-01T00:00:00Z")),  // 500 ms
            done("orders", switchover: [1000, 500, 500], at: utc("2026-01-02T00:00:00Z")),  // 2 s
            done("other", switchover: [60_000], at: utc("2026-01-03T00:00:00Z")),
        ]
        let history = records.flatMap { DurationSample.samples(of: $0) }
        let estimate = SwitchoverEstimate.switchover(history: history, database: "orders", policy: policy)
        #expect(estimate.duration == .seconds(6))
        #expect(estimate.basis.contains("the last 2 switchovers (2.0 s)"))
        // A fast database still gets at least a second.
        var fast = records[0]
        fast.timings = [.init(step: .fence, milliseconds: 10, outcome: "succeeded")]
        #expect(
            SwitchoverEstimate.switchover(history: DurationSample.samples(of: fast), database: "orders", policy: policy)
                .duration == .seconds(1))
        // Only completed changeovers measure a switchover; a failed step does not count.
        var failed = records[1]
        failed.machine = ChangeoverMachine(step: .failed)
        #expect(DurationSample.samples(of: failed).allSatisfy { $0.step != DurationSample.switchover })
        var partly = records[1]
        partly.timings[2].outcome = "failed"
        #expect(DurationSample.samples(of: partly).first { $0.step == DurationSample.switchover }?.milliseconds == 1500)
    }

    @Test func leadTimeComesFromSizeAndTheSlowestMeasuredThroughput() {
        var policy = SchedulingPolicy()
        policy.minimumLead = .seconds(60)
        policy.defaultLead = .seconds(7200)
        let history = [
            // 100 MB/s, then 50 MB/s.
            done("orders", switchover: [100], bytes: 1_000_000_000, seconds: 10, at: utc("2026-01-01T00:00:00Z")),
            done("other", switchover: [100], bytes: 500_000_000, seconds: 10, at: utc("2026-01-02T00:00:00Z")),
        ].flatMap { DurationSample.samples(of: $0) }
        // 10 GB at 50 MB/s = 200 s, doubled, plus the 2 s hold.
        let lead = SwitchoverEstimate.lead(
            dataBytes: 10_000_000_000, history: history, database: "orders", holdFor: .seconds(2), policy: policy)
        #expect(lead.duration == .seconds(402))
        #expect(lead.basis.contains("10.0 GB at 50.0 MB/s (the slowest of 2 measured)"), "\(lead.basis)")
        // Size unknown: the last copy of this database (1 GB → 2 × 20 s + 2 s < the 60 s minimum).
        let fromLastCopy = SwitchoverEstimate.lead(
            dataBytes: nil, history: history, database: "orders", holdFor: .seconds(2), policy: policy)
        #expect(fromLastCopy.duration == .seconds(60))
        #expect(fromLastCopy.basis.contains("(last copy)"))
        // Never copied, size unknown: the default.
        #expect(
            SwitchoverEstimate.lead(
                dataBytes: nil, history: history, database: "new", holdFor: .seconds(2), policy: policy
            ).duration == .seconds(7200))
        // Nothing measured: the default throughput (20 MiB/s).
        let unmeasured = SwitchoverEstimate.lead(
            dataBytes: 20 * 1024 * 1024 * 100, history: [], database: "new", holdFor: .zero, policy: policy)
        #expect(unmeasured.duration == .seconds(200))
    }

    @Test func durationsReadLikeAPersonWritesThem() {
        #expect(ScheduleText.duration(seconds: 11_520) == "3 h 12 min")
        #expect(ScheduleText.duration(seconds: 3600) == "1 h")
        #expect(ScheduleText.duration(seconds: 90_000) == "1 d 1 h")
        #expect(ScheduleText.duration(seconds: 125) == "2 min 5 s")
        #expect(ScheduleText.duration(seconds: 720) == "12 min")
        #expect(ScheduleText.duration(seconds: 3) == "3 s")
        #expect(ScheduleText.duration(seconds: 0.25) == "250 ms")
    }

    /// The times written from calendar fields and a format style read exactly as the
    /// `en_US_POSIX` `DateFormatter` ("EEE HH:mm[:ss]") and `ISO8601DateFormatter` wrote them, in
    /// every zone, around daylight-saving changes and within a millisecond of a whole second.
    @Test func timesReadAsTheFormattersWroteThem() throws {
        // Made once per zone (making them is the slow part).
        func formatter(_ zone: TimeZone, _ format: String) -> DateFormatter {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = zone
            formatter.dateFormat = format
            return formatter
        }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime]
        var random = PropertyGenerator(seed: 0x71_3E5)
        let zones =
            TimeZone.knownTimeZoneIdentifiers.compactMap { TimeZone(identifier: $0) } + [TimeZone(identifier: "GMT")!]
        let transitions = [
            utc("2026-03-29T01:00:00Z"), utc("2026-10-25T01:00:00Z"), utc("2026-03-08T07:00:00Z"),
            utc("2026-04-05T16:00:00Z"),
        ]
        for zone in zones {
            let (toMinutes, toSeconds) = (formatter(zone, "EEE HH:mm"), formatter(zone, "EEE HH:mm:ss"))
            func formatted(_ date: Date) -> (local: String, iso: String) {
                let local = Int(date.timeIntervalSince1970.rounded(.down)) % 60 != 0 ? toSeconds : toMinutes
                return (
                    "\(local.string(from: date)) \(zone.identifier == "GMT" ? "UTC" : zone.identifier)",
                    iso.string(from: date)
                )
            }
            for k in 0..<8 {
                var seconds =
                    k < transitions.count
                    ? transitions[k].timeIntervalSince1970 + Double(Int.random(in: -3600...3600, using: &random))
                    : Double(Int.random(in: 0..<4_102_444_800, using: &random))
                if k % 3 == 0 { seconds = (seconds / 60).rounded(.down) * 60 }
                if k % 2 == 1 { seconds += [0.25, 0.9996, 0.0004, 0.5][k / 2] }
                let date = Date(timeIntervalSince1970: seconds)
                let expected = formatted(date)
                #expect(ScheduleText.local(date, zone) == expected.local, "\(zone.identifier) \(seconds)")
                #expect(ScheduleText.iso(date) == expected.iso, "\(seconds)")
            }
        }
    }
}
