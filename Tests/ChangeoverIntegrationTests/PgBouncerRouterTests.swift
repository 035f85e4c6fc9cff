import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite(.serialized) struct PgBouncerRouterTests {
    /// Clients of a pgbouncer pool (transaction pooling) wait through the switchover: PAUSE before
    /// the fence, the include line rewritten and RELOADed, RESUME after the promotion. The writer
    /// keeps its one connection, sees no error, and every acknowledged write is on the new primary.
    @Test func writerThroughPgBouncerSeesNoErrorAcrossAChangeover() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let bouncer = try await LabPgBouncer.start(
                lab: scenario.lab, inFrontOf: scenario.primary, database: scenario.database)
            let writer = AckedWriter(conninfo: bouncer.clientConnInfo(lab: scenario.lab))
            try await withCleanup({
                _ = await writer.stop()
                await bouncer.stop()
            }) {
                await writer.start()
                try await writer.waitForAcknowledgements(50)
                let began = ContinuousClock.now
                let router = bouncer.routerConfig
                let summary = try await scenario.changeover(0, router: router.yaml, environment: router.environment)
                try #require(
                    summary.outcome == .completed,
                    "\(summary.failedStep.map { "\($0)" } ?? ""): \(summary.failure ?? "")")
                try await writer.waitForAcknowledgements(100)
                let pause = await writer.longestGap(since: began)
                let report = await writer.stop()

                #expect(report.errors == 0, "the writer saw \(report.errors) errors through pgbouncer")
                #expect(report.reconnects == 1, "the writer had to reconnect \(report.reconnects - 1) times")
                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[0])
                let shown = try await bouncer.show()
                #expect(shown.port == newPrimary.port && !shown.paused, "pgbouncer: \(shown)")
                let include = try String(contentsOfFile: bouncer.includeFile, encoding: .utf8)
                #expect(
                    include.contains("\(scenario.database) = host=127.0.0.1 port=\(newPrimary.port) dbname=postgres"),
                    "\(include)")

                let viaBouncer = try await PostgresConnection.connect(
                    bouncer.clientConnInfo(lab: scenario.lab), timeout: .seconds(5))
                defer { viaBouncer.close() }
                #expect(
                    try await viaBouncer.query("SELECT inet_server_port()::text", timeout: .seconds(5)).scalar
                        == String(newPrimary.port))
                let direct = try await scenario.lab.connect(try ConnInfo(newPrimary.address))
                defer { direct.close() }
                let missing = try await AckedWriter.missing(report.acknowledged, on: direct)
                #expect(missing.isEmpty, "lost \(missing.count) acknowledged writes")
                print(
                    "pgbouncer changeover: writer pause \(String(format: "%.1f", pause)) ms "
                        + "(controller: \(String(format: "%.1f", summary.writePauseMilliseconds ?? -1)) ms from PAUSE to RESUME), "
                        + "\(report.errors) client errors, \(report.acknowledged.count) acknowledged writes, \(missing.count) lost"
                )
            }
        }
    }

    /// The follower dies once it has caught up; the switchover fails before the promotion and
    /// rolls back: pgbouncer is resumed on the old primary (its include line never rewritten),
    /// the writer goes on there and no acknowledged write is lost.
    @Test func followerLostBeforePromotionLeavesPgBouncerResumedOnTheOldPrimary() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let bouncer = try await LabPgBouncer.start(
                lab: scenario.lab, inFrontOf: scenario.primary, database: scenario.database)
            let writer = AckedWriter(conninfo: bouncer.clientConnInfo(lab: scenario.lab))
            try await withCleanup({
                _ = await writer.stop()
                await bouncer.stop()
            }) {
                await writer.start()
                try await writer.waitForAcknowledgements(50)
                let includeBefore = try String(contentsOfFile: bouncer.includeFile, encoding: .utf8)
                let lab = scenario.lab
                let followerPort = scenario.followerPorts[0]
                let killed = Mutex<pid_t?>(nil)
                let router = bouncer.routerConfig
                let summary = try await scenario.changeover(
                    0, router: router.yaml, environment: router.environment, switchover: "{replayTimeout: 2s}"
                ) { event in
                    // Kill the follower's postmaster the moment catch-up is done, before the fence.
                    guard case .stepFinished(.catchUp, _, nil) = event else { return }
                    let follower = lab.runningServers().compactMap { $0.pidFile() }.first { $0.port == followerPort }
                    if let pid = follower?.pid, kill(pid, SIGKILL) == 0 { killed.withLock { $0 = pid } }
                }
                #expect(killed.withLock { $0 } != nil, "the follower was not found to kill")
                #expect(summary.outcome == .aborted, "outcome \(summary.outcome): \(summary.failure ?? "")")
                let failedStep = try #require(summary.failedStep)
                #expect([.fence, .finalSync].contains(failedStep), "failed at \(failedStep): \(summary.failure ?? "")")

                let shown = try await bouncer.show()
                #expect(shown.port == scenario.primary.port && !shown.paused, "pgbouncer: \(shown)")
                #expect(try String(contentsOfFile: bouncer.includeFile, encoding: .utf8) == includeBefore)
                try await writer.waitForAcknowledgements(100)
                let report = await writer.stop()

                let viaBouncer = try await PostgresConnection.connect(
                    bouncer.clientConnInfo(lab: scenario.lab), timeout: .seconds(5))
                defer { viaBouncer.close() }
                #expect(
                    try await viaBouncer.query("SELECT inet_server_port()::text", timeout: .seconds(5)).scalar
                        == String(scenario.primary.port))
                let direct = try await scenario.lab.connect(scenario.primary.conninfo)
                defer { direct.close() }
                #expect(
                    try await direct.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
                let missing = try await AckedWriter.missing(report.acknowledged, on: direct)
                #expect(missing.isEmpty, "lost \(missing.count) acknowledged writes")
                print(
                    "pgbouncer rollback after \(failedStep) failed (\(summary.failure ?? "")): writer pause \(String(format: "%.1f", report.longestGapMilliseconds)) ms, "
                        + "\(report.errors) client errors, \(report.acknowledged.count) acknowledged writes, \(missing.count) lost"
                )
            }
        }
    }

    /// pause and resume can be repeated, resume with nothing paused succeeds (rollback calls it
    /// whether or not pause ran), and an unknown database is an error naming it.
    @Test func pauseAndResumeAreIdempotent() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let bouncer = try await LabPgBouncer.start(
                lab: scenario.lab, inFrontOf: scenario.primary, database: scenario.database)
            try await withCleanup({ await bouncer.stop() }) {
                let router = PgBouncerRouter(
                    admin: bouncer.adminConnInfo, password: bouncer.adminPassword, database: nil,
                    includeFile: bouncer.includeFile, timeout: .seconds(5))
                try await router.resume(database: scenario.database)
                try await router.pause(database: scenario.database)
                try await router.pause(database: scenario.database)
                #expect(try await bouncer.show().paused)
                try await router.resume(database: scenario.database)
                try await router.resume(database: scenario.database)
                #expect(try await !bouncer.show().paused)

                let error = await #expect(throws: RouterError.self) { try await router.resume(database: "nosuch") }
                #expect(error?.description.contains("nosuch") == true)
                let wrong = PgBouncerRouter(
                    admin: bouncer.adminConnInfo, password: "wrong-password", database: nil,
                    includeFile: bouncer.includeFile, timeout: .seconds(5))
                let refused = await #expect(throws: RouterError.self) {
                    try await wrong.resume(database: scenario.database)
                }
                #expect(refused?.description.contains("wrong-password") == false)
                #expect(refused?.description.contains("admin console") == true)
            }
        }
    }
}

extension PgBouncerRouterTests {
    /// Preflight asks pgbouncer what it does now: a router that cannot be reached, does not
    /// know the database, or sends it somewhere other than the primary stops the changeover
    /// before anything is built (no slot, no follower).
    @Test func preflightChecksWhatPgBouncerDoesNow() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let bouncer = try await LabPgBouncer.start(
                lab: scenario.lab, inFrontOf: scenario.primary, database: scenario.database)
            try await withCleanup({ await bouncer.stop() }) {
                let primary = Endpoint(host: "127.0.0.1", port: scenario.primary.port, address: "")
                let router = PgBouncerRouter(
                    admin: bouncer.adminConnInfo, password: bouncer.adminPassword, database: nil,
                    includeFile: bouncer.includeFile, timeout: .seconds(5))
                let good = await router.check(database: scenario.database, primary: primary)
                #expect(good.passed, "\(good.detail)")
                let elsewhere = await router.check(
                    database: scenario.database,
                    primary: Endpoint(host: "127.0.0.1", port: scenario.followerPorts[0], address: ""))
                #expect(!elsewhere.passed && elsewhere.detail.contains("not to the primary"), "\(elsewhere.detail)")
                let unknown = await router.check(database: "nosuch", primary: primary)
                #expect(!unknown.passed && unknown.detail.contains("no line for nosuch"), "\(unknown.detail)")
                let wrong = PgBouncerRouter(
                    admin: bouncer.adminConnInfo, password: "wrong-password", database: nil,
                    includeFile: bouncer.includeFile, timeout: .seconds(5))
                let refused = await wrong.check(database: scenario.database, primary: primary)
                #expect(
                    !refused.passed && refused.detail.contains("admin console")
                        && !refused.detail.contains("wrong-password"))

                // A whole changeover through a pgbouncer whose password is wrong: stopped at preflight.
                let (yaml, environment) = bouncer.routerConfig
                let badEnvironment = environment.mapValues { $0 == bouncer.adminPassword ? "wrong-password" : $0 }
                let summary = try await scenario.changeover(0, router: yaml, environment: badEnvironment)
                #expect(summary.outcome == .aborted && summary.failedStep == .preflight, "\(summary.failure ?? "")")
                #expect(
                    summary.failure?.contains("router: cannot reach pgbouncer's admin console") == true,
                    "\(summary.failure ?? "")")
                let connection = try await scenario.lab.connect(scenario.primary.conninfo)
                defer { connection.close() }
                #expect(
                    try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5))
                        .scalar == "0")
                #expect(
                    ((try? FileManager.default.contentsOfDirectory(atPath: "\(scenario.lab.root)/nodes")) ?? []).isEmpty
                )
            }
        }
    }
}

/// Runs `body`, then `cleanup`, whether `body` passed or threw.
func withCleanup(_ cleanup: () async -> Void, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        await cleanup()
        throw error
    }
    await cleanup()
}
