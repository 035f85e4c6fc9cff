import Foundation
import Logging
import PostgresClient

/// The Postgres engine: physical streaming replication from a slot, a clean fast shutdown as
/// the fence, the shutdown checkpoint as the final position, `pg_promote` as the promotion.
///
/// The provisioner says where the servers live (this host, or containers) and does what needs
/// them: makes the follower, stops the old primary and reads its control data, restarts it on
/// rollback. Connections to both servers are opened before the fence so that nothing inside the
/// write pause waits for a connect.
public actor PostgresEngine: Engine {
    public struct Target: Sendable {
        public var changeover: String
        public var database: DatabaseConfig
        /// The primary's conninfo including its password.
        public var primary: ConnInfo
        /// The primary's conninfo as the replication user, including its password.
        public var replication: ConnInfo
        public var fromImage: FleetConfig.Image
        public var toImage: FleetConfig.Image
        public var provisioner: any Provisioner
        public var stateDirectory: String
    }

    public let target: Target
    private let logger: Logger
    private let progress: @Sendable (String) -> Void
    private let retries: Retrier
    private var primaryConnection: PostgresConnection?
    private var followerConnection: PostgresConnection?
    /// The old primary's stop, made ready by `prepareFence` when its provisioner can.
    private var armedStop: (any ArmedStop)?
    private var catchUp: CatchUpPolicy { target.database.catchUp }
    private var policy: SwitchoverPolicy { target.database.switchover }

    public init(
        target: Target, logger: Logger, progress: @escaping @Sendable (String) -> Void, retries: Retrier = Retrier()
    ) {
        self.target = target
        self.logger = logger
        self.progress = progress
        self.retries = retries
    }

    /// Reads the secrets and builds the conninfos the controller uses (with connect_timeout,
    /// tagged application_name=changeover).
    public init(_ setup: EngineSetup) throws {
        guard case .postgres(let configured) = setup.database.primary else {
            throw EngineError("database \(setup.database.name) is not a Postgres database")
        }
        var primary =
            configured
            .with("connect_timeout", configured["connect_timeout"] ?? "5")
            .with("application_name", "changeover")
        primary["password"] = try setup.password()
        var replication = primary.with("user", setup.database.replicationUser ?? configured.user ?? "postgres")
        replication["password"] = try setup.replicationPassword()
        self.init(
            target: Target(
                changeover: setup.changeover, database: setup.database, primary: primary,
                replication: replication, fromImage: setup.fromImage, toImage: setup.toImage,
                provisioner: setup.provisioner, stateDirectory: setup.stateDirectory),
            logger: setup.logger, progress: setup.progress, retries: setup.retries)
    }

    nonisolated public var currentPrimary: Endpoint { target.database.primary.endpoint }

    /// The physical slot that holds WAL for this changeover's follower.
    public var slotName: String {
        let cleaned = target.changeover.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }
        return String(("changeover_" + String(cleaned)).prefix(63))
    }

    nonisolated public func plannedResources() -> [String] {
        let placement = target.provisioner.followerPlacement(changeover: target.changeover, engine: .postgres)
        let port = target.database.followerPort.map(String.init) ?? "a free port"
        let slot = String(
            ("changeover_"
                + target.changeover.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined())
                .prefix(63))
        return [
            "physical replication slot \(slot) on the primary",
            "follower on image \(target.toImage.name) \(placement), listening on \(target.provisioner.listenAddress):\(port)",
        ]
    }

    // MARK: preflight

    public func preflight() async -> [PreflightCheck] {
        var checks: [PreflightCheck] = []
        let from = target.fromImage
        let to = target.toImage
        checks.append(await target.provisioner.newImageCheck(from: from, to: to))
        let (imageChecks, newVersion) = await target.provisioner.imageChecks(from: from, to: to, engine: .postgres)
        checks += imageChecks

        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(target.primary, timeout: policy.connectTimeout)
        } catch {
            checks.append(PreflightCheck("primary reachable", passed: false, "\(error)"))
            return checks
        }
        defer { connection.close() }
        checks.append(PreflightCheck("primary reachable", passed: true, connection.endpoint))
        do {
            let timeout = policy.connectTimeout
            let row = try await connection.query(
                """
                SELECT pg_is_in_recovery()::text, current_setting('wal_level'), current_setting('max_wal_senders'),
                       (SELECT count(*) FROM pg_stat_replication)::text, current_setting('max_replication_slots'),
                       (SELECT count(*) FROM pg_replication_slots)::text,
                       EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)::text,
                       current_setting('data_directory'), current_setting('port'), current_setting('server_version')
                """, [slotName], timeout: timeout)
            let v = { (i: Int) in row.rows.first?[i] ?? "" }
            let inRecovery = v(0) == "true"
            checks.append(
                PreflightCheck(
                    "really primary", passed: !inRecovery,
                    inRecovery
                        ? "\(connection.endpoint) is a standby (in recovery), not a primary"
                        : "not in recovery"))
            checks.append(
                PreflightCheck(
                    "wal_level", passed: ["replica", "logical"].contains(v(1)),
                    "wal_level = \(v(1))"))
            let freeSenders = (Int(v(2)) ?? 0) - (Int(v(3)) ?? 0)
            checks.append(
                PreflightCheck(
                    "wal senders", passed: freeSenders >= 2,
                    "\(freeSenders) of max_wal_senders = \(v(2)) free (a base backup needs 2)"))
            let freeSlots = (Int(v(4)) ?? 0) - (Int(v(5)) ?? 0)
            let slotTaken = v(6) == "true"
            checks.append(
                PreflightCheck(
                    "replication slot", passed: freeSlots >= 1 || slotTaken,
                    slotTaken
                        ? "slot \(slotName) exists and will be reused"
                        : "\(freeSlots) of max_replication_slots = \(v(4)) free"))
            let major = v(9).split(separator: ".").first.map(String.init) ?? v(9)
            if let newVersion {
                let newMajor = newVersion.split(separator: ".").first.map(String.init) ?? newVersion
                checks.append(
                    PreflightCheck(
                        "major version", passed: newMajor == major,
                        newMajor == major
                            ? "primary \(v(9)), new image \(newVersion)"
                            : "primary runs \(v(9)) but image \(to.name) is \(newVersion): physical replication needs the same major version"
                    ))
            }
            checks.append(await target.provisioner.primaryCheck(dataDirectory: v(7), port: v(8), image: from))
            let files = try await connection.query(
                "SELECT current_setting('config_file'), current_setting('hba_file'), "
                    + "current_setting('ident_file')", timeout: timeout
            ).rows.first
            if let files, files.count == 3, let config = files[0], let hba = files[1], let ident = files[2],
                let layout = await target.provisioner.layoutCheck(
                    .postgres(PostgresLayout(dataDirectory: v(7), configFile: config, hbaFile: hba, identFile: ident)))
            {
                checks.append(layout)
            }
        } catch {
            checks.append(PreflightCheck("primary settings", passed: false, "\(error)"))
        }
        checks.append(await replicationLoginCheck())
        checks.append(await target.provisioner.check(followerPort: target.database.followerPort))
        return checks
    }

    private func replicationLoginCheck() async -> PreflightCheck {
        let info = target.replication.with("replication", "true").with("dbname", nil)
        do {
            let connection = try await PostgresConnection.connect(info, timeout: policy.connectTimeout)
            defer { connection.close() }
            let results = try await connection.simpleQuery("IDENTIFY_SYSTEM", timeout: policy.connectTimeout)
            let timeline = results.first?.value(0, "timeline") ?? "?"
            return PreflightCheck(
                "replication login", passed: true,
                "\(info.user ?? "?") may stream (timeline \(timeline))")
        } catch {
            return PreflightCheck(
                "replication login", passed: false,
                "replication connection as \(info.user ?? "?") failed: \(error)")
        }
    }

    // MARK: provision and catch-up

    public func provision(_ facts: inout Facts) async throws {
        // Provisioned before an interruption (perhaps before its facts were recorded): the
        // follower runs and streams from its slot; learn its facts from the server itself.
        if let existing = try await target.provisioner.runningPostgresFollower(
            changeover: target.changeover, image: target.toImage)
        {
            facts.merge(existing.facts) { _, new in new }
            facts.followerHost = existing.host
            facts.followerPort = existing.port
            facts.slot = slotName
            try await locateOldPrimary(&facts)
            return
        }
        try await locateOldPrimary(&facts)
        let slot = slotName
        let timeout = policy.connectTimeout
        try await onPrimary("reserve the slot \(slot) on the primary") { primary in
            let exists = try await primary.query(
                "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", [slot],
                timeout: timeout)
            if exists.rows.isEmpty {
                _ = try await primary.query(
                    "SELECT pg_create_physical_replication_slot($1, true)", [slot], timeout: timeout)
            }
        }
        facts.slot = slotName
        let layout = await primaryLayout()
        facts.oldCluster = layout.flatMap { DebianCluster.of(configFile: $0.configFile) }?.description
        let follower = try await target.provisioner.createPostgresFollower(
            changeover: target.changeover, image: target.toImage, source: target.replication, slot: slotName,
            port: target.database.followerPort, layout: layout, timeout: catchUp.provisionTimeout, progress: progress)
        facts.merge(follower.facts) { _, new in new }
        facts.followerHost = follower.host
        facts.followerPort = follower.port
    }

    /// Records where the old primary is (its data directory, and what the provisioner needs to
    /// find it) and what both images are, once.
    private func locateOldPrimary(_ facts: inout Facts) async throws {
        if facts.oldDataDirectory == nil {
            facts.oldDataDirectory = try await primaryDataDirectory()
        }
        if let dataDirectory = facts.oldDataDirectory {
            facts.merge(target.provisioner.oldPrimaryFacts(dataDirectory: dataDirectory)) { old, _ in old }
        }
        facts.merge(try await target.provisioner.imageFacts(from: target.fromImage, to: target.toImage)) { old, _ in old
        }
    }

    public func catchUp(_ facts: inout Facts) async throws {
        let follower = try followerServer(facts)
        let clock = ContinuousClock()
        let deadline = clock.now + catchUp.timeout
        var heldSince: ContinuousClock.Instant?
        var lastReport = clock.now - .seconds(10)
        var lastLag = "unknown"
        let silence = try await longestReplySilence(facts, until: deadline)
        let caughtUp = try await poll(
            every: catchUp.pollEvery,
            until: { () async throws -> Bool in
                guard try await isRunning(follower) else { throw EngineError("the follower stopped during catch-up") }
                let slot = slotName
                let timeout = policy.connectTimeout
                let result = try await onPrimary(
                    "read the follower's lag on the primary", policy: .untilDeadline, until: deadline
                ) {
                    try await $0.query(
                        """
                        SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text,
                               COALESCE(extract(epoch FROM replay_lag), 0)::float8::text, state,
                               COALESCE(extract(epoch FROM now() - reply_time), 0)::float8::text
                        FROM pg_stat_replication WHERE application_name = $1
                        """, [slot], timeout: timeout)
                }
                let now = clock.now
                if let row = result.rows.first, row[2] == "streaming",
                    let bytes = Int64(row[0] ?? ""), let seconds = Double(row[1] ?? "")
                {
                    let quiet = Double(row[3] ?? "") ?? 0
                    lastLag = "\(bytes) bytes, \(String(format: "%.3f", seconds)) s"
                    facts.catchUpLagBytes = bytes
                    if let silence, quiet > silence.seconds {
                        // No lag, and no word from the follower either: a link that stalls (a cut
                        // that healed, with TCP still backing off) carries no WAL, so it shows no lag.
                        lastLag += ", but its last reply is \(String(format: "%.1f", quiet)) s old"
                        heldSince = nil
                    } else if bytes <= catchUp.maxLagBytes && seconds <= catchUp.maxLagTime.seconds {
                        heldSince = heldSince ?? now
                    } else {
                        heldSince = nil
                    }
                } else {
                    heldSince = nil
                    lastLag = "follower not streaming yet"
                }
                if now - lastReport >= .seconds(1) {
                    progress("lag \(lastLag)")
                    lastReport = now
                }
                if let heldSince, now - heldSince >= catchUp.holdFor { return true }
                return false
            }, deadline: deadline)
        guard caughtUp else {
            throw EngineError(
                "the follower did not catch up within \(catchUp.timeout.seconds) s (lag \(lastLag), must stay under \(catchUp.maxLagBytes) bytes and \(catchUp.maxLagTime.seconds) s for \(catchUp.holdFor.seconds) s)"
            )
        }
    }

    // MARK: the switchover

    public func prepareFence(_ facts: inout Facts) async throws {
        try await onFollower(facts, "connect to the follower") { _ in }  // connected now, not inside the pause
        guard try await isRunning(oldPrimaryServer(facts)) else { return }  // fenced before an interruption
        let clock = ContinuousClock()
        let started = clock.now
        let timeout = policy.fenceTimeout
        let checkpoint = try await onPrimary("CHECKPOINT on the primary") { primary in
            _ = try await primary.query("CHECKPOINT", timeout: timeout)
            return try await primary.query("SELECT pg_current_wal_lsn()::text", timeout: timeout).scalar ?? "0/0"
        }
        facts.checkpointMilliseconds = (clock.now - started).milliseconds
        // The follower must have the checkpoint before the pause begins: the fast shutdown waits
        // for the walsender to deliver everything, so a link that stalls makes the pause long
        // (or the fence time out) instead of failing here with nothing touched.
        let deadline = clock.now + policy.replayTimeout
        let slot = slotName
        let connectTimeout = policy.connectTimeout
        let received = try await poll(
            every: .milliseconds(2),
            until: { () async throws -> Bool in
                try await onPrimary("read what the follower has received", until: deadline) {
                    try await $0.query(
                        """
                        SELECT (pg_wal_lsn_diff(flush_lsn, $1::pg_lsn) >= 0)::text FROM pg_stat_replication
                        WHERE application_name = $2 AND state = 'streaming'
                        """, [checkpoint, slot], timeout: connectTimeout
                    ).scalar
                } == "true"
            }, deadline: deadline)
        guard received else {
            throw EngineError(
                "the follower did not receive the primary's checkpoint at \(checkpoint) within \(policy.replayTimeout.seconds) s; nothing was fenced"
            )
        }
        facts.checkpointReceivedMilliseconds = (clock.now - started).milliseconds
        // A stop that cannot be made ready is made inside the pause, as it always could be.
        armedStop?.disarm()
        armedStop = try? await oldPrimaryServer(facts).armStop(timeout: policy.fenceTimeout, signal: SIGINT)
    }

    /// How long the follower may stay silent while catch-up holds: twice its reply interval plus
    /// a second; nil when it sends no periodic replies (`wal_receiver_status_interval = 0`).
    private func longestReplySilence(_ facts: Facts, until deadline: ContinuousClock.Instant) async throws -> Duration?
    {
        let timeout = policy.connectTimeout
        let interval = try await onFollower(
            facts, "read the follower's reply interval", policy: .untilDeadline, until: deadline
        ) {
            try await $0.query(
                "SELECT setting FROM pg_settings WHERE name = 'wal_receiver_status_interval'", timeout: timeout
            ).scalar
        }
        guard let seconds = interval.flatMap({ Int($0) }), seconds > 0 else { return nil }
        return .seconds(2 * seconds + 1)
    }

    public func fence(_ facts: inout Facts) async throws {
        let old = try oldPrimaryServer(facts)
        let clock = ContinuousClock()
        let started = clock.now
        let armed = armedStop
        armedStop = nil
        var read: [String: String]?
        if let armed, case .stopped(let control) = try await armed.fire() {
            read = control
            facts.stopArmed = true
        } else {
            try await old.stop(timeout: policy.fenceTimeout, signal: SIGINT)
        }
        let stopped = clock.now
        facts.stopMilliseconds = (stopped - started).milliseconds
        primaryConnection?.close()
        primaryConnection = nil
        let control = if let read { read } else { try await old.controlData() }
        facts.controlDataMilliseconds = (clock.now - stopped).milliseconds
        guard control["Database cluster state"] == "shut down", let lsn = control["Latest checkpoint location"] else {
            throw EngineError(
                "the old primary did not shut down cleanly (cluster state: \(control["Database cluster state"] ?? "unknown"))"
            )
        }
        facts.finalLSN = lsn
        facts.finalPosition = "LSN \(lsn)"
    }

    public func finalSync(_ facts: inout Facts) async throws {
        guard let lsn = facts.finalLSN else { throw EngineError("no final LSN was recorded by the fence") }
        let clock = ContinuousClock()
        let deadline = clock.now + policy.replayTimeout
        let timeout = policy.replayTimeout
        var replayed = "?"
        let passed = try await poll(
            every: .milliseconds(1),
            until: { () async throws -> Bool in
                let result = try await onFollower(
                    facts, "read the follower's replay position", policy: .inPause, until: deadline
                ) {
                    try await $0.query(
                        "SELECT (pg_wal_lsn_diff(pg_last_wal_replay_lsn(), $1::pg_lsn) > 0)::text, pg_last_wal_replay_lsn()::text",
                        [lsn], timeout: timeout)
                }
                if result.scalar == "true" {
                    facts.followerReplayLSN = result.rows.first?[1] ?? ""
                    return true
                }
                replayed = result.rows.first?[1] ?? "?"
                return false
            }, deadline: deadline)
        guard passed else {
            throw EngineError(
                "the follower replayed only to \(replayed), not past the old primary's final LSN \(lsn), within \(policy.replayTimeout.seconds) s"
            )
        }
    }

    public func promote(_ facts: inout Facts) async throws -> Endpoint {
        // A follower that answers on final-sync's connection runs (a round trip to it, not to its
        // host: the provisioner's look may cost an ssh round trip inside the pause).
        let answers = (try? await followerConnection?.query("SELECT 1", timeout: policy.connectTimeout)) != nil
        let runs = answers ? true : try await isRunning(followerServer(facts))
        guard runs else {
            throw PromotionNotRequested("the follower stopped before it could be promoted")
        }
        let clock = ContinuousClock()
        let started = clock.now
        let timeout = policy.promoteTimeout
        let deadline = clock.now + policy.promoteTimeout
        // Asking twice is harmless: a follower still in recovery just gets the signal again.
        try await onFollower(facts, "ask the follower to promote", policy: .inPause, until: deadline) { follower in
            if try await follower.query("SELECT pg_is_in_recovery()::text", timeout: timeout).scalar == "true" {
                _ = try await follower.query("SELECT pg_promote(false)", timeout: timeout)
            }
        }
        let promoted = try await poll(
            every: .milliseconds(1),
            until: { () async throws -> Bool in
                try await onFollower(facts, "check the follower left recovery", policy: .inPause, until: deadline) {
                    try await $0.query("SELECT pg_is_in_recovery()::text", timeout: timeout)
                }.scalar == "false"
            }, deadline: deadline)
        guard promoted else {
            throw EngineError(
                "the follower was asked to promote but is still in recovery after \(policy.promoteTimeout.seconds) s"
            )
        }
        facts.promoteMilliseconds = (clock.now - started).milliseconds
        let endpoint = try newPrimaryEndpoint(facts)
        facts.newAddress = endpoint.address
        return endpoint
    }

    public func isPromoted(_ facts: Facts) async -> Bool {
        guard let server = try? followerServer(facts), (try? await server.isRunning) == true,
            let info = try? newPrimaryConnInfo(facts),
            let connection = try? await PostgresConnection.connect(info, timeout: policy.connectTimeout)
        else { return false }
        defer { connection.close() }
        return (try? await connection.query("SELECT pg_is_in_recovery()::text", timeout: policy.connectTimeout).scalar)
            == "false"
    }

    /// A Postgres primary is demoted by the fence itself: it is stopped.
    public func demoteOldPrimary(_ facts: inout Facts) async throws {}

    public func verify(_ facts: inout Facts) async throws {
        let info = try newPrimaryConnInfo(facts)
        let timeout = policy.verifyTimeout
        let result = try await retries.run("write on the new primary") {
            let connection = try await PostgresConnection.connect(info, timeout: timeout)
            defer { connection.close() }
            return try await connection.query(
                "SELECT pg_is_in_recovery()::text, txid_current()::text", timeout: timeout)
        }
        guard result.rows.first?[0] == "false", let xid = result.rows.first?[1] else {
            throw EngineError("the new primary is still in recovery")
        }
        facts.verifyXID = xid
    }

    public func settle(_ facts: inout Facts) async throws {
        followerConnection?.close()
        followerConnection = nil
        let old = try oldPrimaryServer(facts)
        if try await isRunning(old) {
            throw EngineError("the old primary is running again; its slot \(slotName) was left in place")
        }
        // The slot lives on the old primary, which is stopped and kept for rollback: removing its
        // directory is how a slot is dropped offline, and keeps the old server from holding WAL forever.
        try await old.removeSlotDirectory(slotName)
        facts.slotReleased = true
        if let done = try await target.provisioner.disableOldPostgresService(facts) { facts.oldService = done }
    }

    /// The old primary is stopped; what this controller made of it is removed, anything else is
    /// left to its owner (the provisioner knows which is which).
    public func retireOldPrimary(_ facts: inout Facts) async throws -> String {
        let old = try oldPrimaryServer(facts)
        guard !(try await isRunning(old)) else {
            throw EngineError("the old primary is running again; it was not retired")
        }
        let done = try await target.provisioner.retireOldPostgres(facts, image: target.fromImage)
        facts.oldRetired = true
        return done
    }

    // MARK: rollback

    public func rollBack(_ facts: inout Facts) async throws {
        armedStop?.disarm()
        armedStop = nil
        followerConnection?.close()
        followerConnection = nil
        primaryConnection?.close()
        primaryConnection = nil
        // The follower goes first, so that nothing can promote it once the old primary is back.
        try await target.provisioner.removePostgresFollower(
            changeover: target.changeover, facts: facts, image: target.toImage,
            timeout: policy.fenceTimeout)
        if facts.oldDataDirectory != nil, case let old = try oldPrimaryServer(facts), !(try await isRunning(old)) {
            try FileManager.default.createDirectory(
                atPath: "\(target.stateDirectory)/logs", withIntermediateDirectories: true)
            let log = "\(target.stateDirectory)/logs/\(target.changeover)-old-primary.log"
            // A primary that crashed (rather than being fenced) may leave backends that still
            // hold its shared memory for a moment: the start is retried until they are gone.
            var failure: (any Error)?
            let restarted = try await poll(
                every: .milliseconds(200),
                until: { () async -> Bool in
                    failure = await restart(old, log: log)
                    return failure == nil
                }, deadline: .now + policy.fenceTimeout)
            if !restarted, let failure { throw failure }
            facts.oldRestarted = true
        }
        var busy: PostgresError?
        let dropped = try await poll(
            every: .milliseconds(50),
            until: { () async throws -> Bool in
                let error = try await onPrimary("drop the slot \(slotName) on the primary") { primary in
                    let error = await self.dropSlot(on: primary)
                    if let error, Retrier.isTransient(error) { throw error }
                    return error
                }
                guard let error else { return true }
                // 55006: the walsender of the stopped follower has not exited yet.
                guard error.sqlState == "55006" else { throw error }
                busy = error
                return false
            }, deadline: .now + .seconds(30))
        if !dropped, let busy { throw busy }
        facts.slotReleased = true
    }

    // MARK: helpers

    private func restart(_ server: any ManagedPostgres, log: String) async -> (any Error)? {
        do {
            try await server.startAgain(log: log, timeout: policy.fenceTimeout)
            return nil
        } catch {
            return error
        }
    }

    private func dropSlot(on primary: PostgresConnection) async -> PostgresError? {
        do {
            _ = try await primary.query(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1",
                [slotName], timeout: policy.connectTimeout)
            return nil
        } catch {
            return error
        }
    }

    /// Where the primary keeps its files; nil when it does not say (reading `config_file`
    /// needs a superuser or pg_read_all_settings): the follower then starts from the base
    /// backup's files alone, as a primary that keeps its configuration in its data directory needs.
    private func primaryLayout() async -> PostgresLayout? {
        let timeout = policy.connectTimeout
        let query =
            "SELECT current_setting('data_directory'), current_setting('config_file'), "
            + "current_setting('hba_file'), current_setting('ident_file'), current_setting('listen_addresses')"
        guard
            let result = try? await onPrimary(
                "read where the primary keeps its configuration",
                {
                    try await $0.query(query, timeout: timeout)
                }), let row = result.rows.first, row.count == 5, let data = row[0], let config = row[1],
            let hba = row[2], let ident = row[3]
        else { return nil }
        return PostgresLayout(
            dataDirectory: data, configFile: config, hbaFile: hba, identFile: ident, listenAddresses: row[4])
    }

    private func primaryDataDirectory() async throws -> String {
        let timeout = policy.connectTimeout
        let result = try await onPrimary("read the primary's data directory") {
            try await $0.query("SELECT current_setting('data_directory')", timeout: timeout)
        }
        guard let directory = result.scalar else { throw EngineError("the primary did not report its data directory") }
        return directory
    }

    /// `body` on the primary's connection; after a transient failure the connection is dropped
    /// and `body` tried again on a new one, as `policy` allows.
    private func onPrimary<T>(
        _ call: String, policy retry: RetryPolicy = .standard, until deadline: ContinuousClock.Instant? = nil,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await retries.run(call, policy: retry, until: deadline, on: primary, drop: dropPrimaryConnection, body)
    }

    /// `body` on the follower's connection, retried like `onPrimary`.
    private func onFollower<T>(
        _ facts: Facts, _ call: String, policy retry: RetryPolicy = .standard,
        until deadline: ContinuousClock.Instant? = nil,
        _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await retries.run(
            call, policy: retry, until: deadline, on: { try await self.follower(facts) },
            drop: {
                self.followerConnection?.close()
                self.followerConnection = nil
            }, body)
    }

    private func dropPrimaryConnection() {
        primaryConnection?.close()
        primaryConnection = nil
    }

    private func primary() async throws -> PostgresConnection {
        if let primaryConnection, primaryConnection.isOpen { return primaryConnection }
        let connection = try await PostgresConnection.connect(target.primary, timeout: policy.connectTimeout)
        primaryConnection = connection
        return connection
    }

    private func follower(_ facts: Facts) async throws -> PostgresConnection {
        if let followerConnection, followerConnection.isOpen { return followerConnection }
        let connection = try await PostgresConnection.connect(
            try newPrimaryConnInfo(facts), timeout: policy.connectTimeout)
        followerConnection = connection
        return connection
    }

    /// Whether `server` runs, asked again after a transient failure (its host unreachable).
    private func isRunning(_ server: any ManagedPostgres) async throws -> Bool {
        try await retries.run("see whether the server in \(server.location) runs") { try await server.isRunning }
    }

    private func followerServer(_ facts: Facts) throws -> any ManagedPostgres {
        try target.provisioner.postgresFollower(facts, image: target.toImage)
    }

    private func oldPrimaryServer(_ facts: Facts) throws -> any ManagedPostgres {
        try target.provisioner.oldPostgres(facts, image: target.fromImage)
    }

    private func newPrimaryConnInfo(_ facts: Facts) throws -> ConnInfo {
        guard let host = facts.followerHost, let port = facts.followerPort else {
            throw EngineError("no follower was provisioned")
        }
        return target.primary.with("host", host).with("hostaddr", nil).with("port", String(port))
            .with("target_session_attrs", nil)
    }

    private func newPrimaryEndpoint(_ facts: Facts) throws -> Endpoint {
        guard let host = facts.followerHost, let port = facts.followerPort else {
            throw EngineError("no follower was provisioned")
        }
        guard case .postgres(let configured) = target.database.primary else {
            throw EngineError("not a Postgres database")
        }
        let info = configured.with("host", host).with("hostaddr", nil).with("port", String(port)).with("password", nil)
        return Endpoint(host: info.host ?? "", port: info.port ?? 5432, address: info.description)
    }
}

public struct EngineError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
