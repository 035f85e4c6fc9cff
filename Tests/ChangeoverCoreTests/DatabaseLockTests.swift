import Foundation
import Testing

@testable import ChangeoverCore

/// The database lock: a controller's (`lock`, which names its holder) and the one taken to
/// record a scheduled changeover (`lockToRecord`, no file of its own) refuse each other, also
/// between two descriptions in one process, as between two processes.
@Suite struct DatabaseLockTests {
    func store() throws -> (StateStore, String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("locks-\(UUID().uuidString)")
            .path
        return (StateStore(directory: directory), directory)
    }

    @Test func aControllersLockRefusesARecordingLockAndNamesItsHolder() throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var held: DatabaseLock? = try store.lock(database: "orders", changeover: "orders-1", actor: "ops@host")
        #expect(throws: DatabaseBusy.self) { try store.lockToRecord(database: "orders", changeover: "x", actor: "d") }
        #expect(throws: DatabaseBusy.self) { try store.lock(database: "orders", changeover: "x", actor: "d") }
        #expect(store.lockHolder(database: "orders")?.changeover == "orders-1")
        // Another database is free meanwhile.
        _ = try store.lockToRecord(database: "billing", changeover: "billing-1", actor: "d")
        withExtendedLifetime(held) {}
        held = nil
        #expect(store.lockHolder(database: "orders") == nil)
        _ = try store.lockToRecord(database: "orders", changeover: "orders-2", actor: "d")
    }

    @Test func aRecordingLockRefusesAControllersLockAndWritesNoFile() throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var held: DatabaseLock? = try store.lockToRecord(database: "orders", changeover: "orders-1", actor: "d")
        do {
            _ = try store.lock(database: "orders", changeover: "orders-2", actor: "ops")
            Issue.record("the controller's lock was taken while the recording lock was held")
        } catch let busy as DatabaseBusy {
            #expect(busy.description == "database orders is locked by \(StateStore.recordingHolder); try again")
        }
        #expect(throws: DatabaseBusy.self) { try store.lockToRecord(database: "orders", changeover: "x", actor: "d") }
        #expect(store.lockHolder(database: "orders")?.actor == StateStore.recordingHolder)
        #expect(!FileManager.default.fileExists(atPath: store.lockPath("orders")))
        withExtendedLifetime(held) {}
        held = nil
        #expect(store.lockHolder(database: "orders") == nil)
        _ = try store.lock(database: "orders", changeover: "orders-2", actor: "ops")
    }

    @Test func aBatchOfScheduledChangeoversSkipsADatabaseAnotherControllerHolds() throws {
        let fleet = try CampaignDriverTests.Fleet()
        defer { fleet.remove() }
        let requests = ["p1", "p2"].map {
            ChangeoverRunner.ScheduleRequest(database: $0, image: "pg15-patched", policy: SwitchPolicy(mode: .window))
        }
        var held: DatabaseLock? = try fleet.store.lock(database: "p1", changeover: "p1-run", actor: "ops")
        let first = fleet.runner.schedule(batch: requests, source: "test batch")
        if case .failure(let error) = first[0] {
            #expect(error is DatabaseBusy, "\(error)")
        } else {
            Issue.record("p1 was scheduled while another controller held it")
        }
        #expect((try? first[1].get()) != nil)
        #expect(try fleet.store.changeovers(database: "p1").isEmpty)
        withExtendedLifetime(held) {}
        held = nil
        let second = fleet.runner.schedule(batch: requests, source: "test batch")
        #expect((try? second[0].get()) != nil)
        if case .failure(let error) = second[1] {
            #expect("\(error)".contains("already has changeover"), "\(error)")
        } else {
            Issue.record("p2 was scheduled twice")
        }
    }

    @Test func aShorterHolderIsReadWholeFromALongerOnesFile() throws {
        let (store, directory) = try store()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let long = String(repeating: "a-very-long-actor-name ", count: 20)
        var held: DatabaseLock? = try store.lock(database: "orders", changeover: "orders-1", actor: long)
        #expect(store.lockHolder(database: "orders")?.actor == long)
        withExtendedLifetime(held) {}
        held = nil
        held = try store.lock(database: "orders", changeover: "orders-2", actor: "ops")
        #expect(store.lockHolder(database: "orders")?.actor == "ops")
        #expect(store.lockHolder(database: "orders")?.changeover == "orders-2")
        withExtendedLifetime(held) {}
    }
}
