import Foundation
import Testing

@testable import ChangeoverCore

/// The one classification of a changeover that `status`, the daemon's `/status` and its
/// `/metrics` share, and the strings it puts on the wire.
@Suite struct ChangeoverStatusStateTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func record(
        _ step: ChangeoverStep, policy: SwitchPolicy? = nil, stopped: StopNote.Kind? = nil,
        rollbackUnfinished: Bool? = nil
    ) -> ChangeoverRecord {
        var record = ChangeoverRecord(
            id: "orders-1", database: "orders", fromImage: "pg15", toImage: "pg15-patched",
            machine: ChangeoverMachine(step: step, rollbackUnfinished: rollbackUnfinished), startedAt: now,
            updatedAt: now, facts: [:], timings: [], policy: policy)
        record.stopped = stopped.map {
            StopNote(kind: $0, reason: "SIGTERM", step: step, by: "op", daemon: false, at: now)
        }
        return record
    }

    @Test func eachRecordHasOneStateAndAHeldLockMakesItRunning() {
        typealias State = ChangeoverStatus.State
        #expect(State.of(record(.pending, policy: SwitchPolicy(mode: .window)), controlled: false) == .scheduled)
        #expect(State.of(record(.pending, policy: SwitchPolicy(mode: .window)), controlled: true) == .running)
        #expect(State.of(record(.catchUp, stopped: .stopped), controlled: false) == .stopped)
        #expect(State.of(record(.awaitWindow, stopped: .prepared), controlled: false) == .prepared)
        #expect(State.of(record(.fence), controlled: false) == .interrupted)
        #expect(State.of(record(.done), controlled: false) == .ended)
        #expect(State.of(record(.failed, rollbackUnfinished: true), controlled: false) == .rollbackUnfinished)
    }

    @Test func theStatesAreTheStringsStatusAlwaysPrinted() throws {
        #expect(
            ChangeoverStatus.State.allCases.map(\.rawValue) == [
                "running", "scheduled", "stopped", "prepared", "interrupted", "rollback unfinished", "ended",
            ])
        let encoded = try JSONEncoder().encode([ChangeoverStatus.State.rollbackUnfinished])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["rollback unfinished"]"#)
    }
}
