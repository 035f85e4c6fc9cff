import Foundation
import Logging
import RedisClient

/// The Redis engine: a replica on the new image started with the primary's configuration
/// carried over, `CLIENT PAUSE … WRITE` as the fence, the primary's `master_repl_offset` under
/// the pause as the final position, `REPLICAOF NO ONE` as the promotion, and the old primary
/// turned into a replica of the new one before its clients are let go (they get READONLY and
/// can never diverge). The fence never waits for Redis's once-a-second replica acknowledgement:
/// the follower's own offset is polled at millisecond granularity.
public actor RedisEngine: Engine {
    public let setup: EngineSetup
    private let primaryEndpoint: RedisEndpoint
    /// How the follower authenticates to the primary (masteruser/masterauth).
    private let replicationUser: String?
    private let replicationPassword: String?
    private var primaryConnection: RedisConnection?
    private var followerConnection: RedisConnection?
    private var catchUp: CatchUpPolicy { setup.database.catchUp }
    private var policy: SwitchoverPolicy { setup.database.switchover }
    private var progress: @Sendable (String) -> Void { setup.progress }
    private var retries: Retrier { setup.retries }

    /// Configuration carried from the primary to the follower.
    static let carriedSettings = [
        "maxmemory", "maxmemory-policy", "maxmemory-samples", "appendonly", "appendfsync", "save", "databases",
        "notify-keyspace-events", "hz", "timeout", "tcp-keepalive", "maxclients", "lua-time-limit",
        "repl-backlog-size", "repl-backlog-ttl", "repl-diskless-sync", "repl-diskless-sync-delay", "repl-timeout",
        "min-replicas-to-write", "min-replicas-max-lag", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
    ]

    public init(_ setup: EngineSetup) throws {
        guard case .redis(let host, let port, let user) = setup.database.primary else {
            throw EngineError("database \(setup.database.name) is not a Redis database")
        }
        self.setup = setup
        primaryEndpoint = RedisEndpoint(host: host, port: port, user: user, password: try setup.password())
        replicationUser = setup.database.replicationUser
        replicationPassword = try setup.replicationPassword()
    }

    nonisolated public var currentPrimary: Endpoint { setup.database.primary.endpoint }

    nonisolated public func plannedResources() -> [String] {
        let placement = setup.provisioner.followerPlacement(changeover: setup.changeover, engine: .redis)
        let port = setup.database.followerPort.map(String.init) ?? "a free port"
        return [
            "replica on image \(setup.toImage.name) \(placement), listening on \(setup.provisioner.listenAddress):\(port), "
                + "with the primary's configuration and ACL users"
        ]
    }

    // MARK: preflight

    public func preflight() async -> [PreflightCheck] {
        var checks: [PreflightCheck] = []
        let from = setup.fromImage
        let to = setup.toImage
        checks.append(await setup.provisioner.newImageCheck(from: from, to: to))
        let (imageChecks, newVersion) = await setup.provisioner.imageChecks(from: from, to: to, engine: .redis)
        checks += imageChecks
        let connection: RedisConnection
        do {
            connection = try await RedisConnection.connect(primaryEndpoint, timeout: policy.connectTimeout)
        } catch {
            checks.append(PreflightCheck("primary reachable", passed: false, "\(error)"))
            return checks
        }
        defer { connection.close() }
        checks.append(PreflightCheck("primary reachable", passed: true, primaryEndpoint.description))
        do {
            let role = try RedisRole(try await connection.command(["ROLE"], timeout: policy.connectTimeout))
            switch role {
            case .master:
                checks.append(PreflightCheck("really primary", passed: true, "role master"))
            case .replica(let host, let port, _, _):
                checks.append(
                    PreflightCheck(
                        "really primary", passed: false,
                        "\(primaryEndpoint) is a replica of \(host):\(port), not a primary"))
            case .sentinel:
                checks.append(
                    PreflightCheck("really primary", passed: false, "\(primaryEndpoint) is a Sentinel, not a primary"))
            }
            let info = RedisInfo(
                parsing: try await connection.command(["INFO", "server"], timeout: policy.connectTimeout).string ?? "")
            let version = info.version
            let versionText = info["redis_version"] ?? "unknown"
            let recent = version.map { ($0.major, $0.minor) >= (6, 2) } ?? false
            checks.append(
                PreflightCheck(
                    "version", passed: recent,
                    recent
                        ? "Redis \(versionText)"
                        : "the primary runs Redis \(versionText), older than 6.2: CLIENT PAUSE WRITE is needed for a lossless switchover"
                ))
            if let newVersion, let version {
                let parts = newVersion.split(separator: ".").compactMap { Int($0) }
                let newer = parts.count >= 2 && (parts[0], parts[1]) >= (version.major, version.minor)
                checks.append(
                    PreflightCheck(
                        "image version", passed: newer,
                        newer
                            ? "new image \(newVersion) ≥ primary \(versionText)"
                            : "image \(to.name) runs Redis \(newVersion), older than the primary's \(versionText): a replica cannot load a newer primary's data"
                    ))
            }
            checks.append(await backlogCheck(connection))
            let configFile = info["config_file"].flatMap { $0.isEmpty ? nil : $0 }
            if let layout = await setup.provisioner.layoutCheck(.redis(configFile: configFile)) {
                checks.append(layout)
            }
        } catch {
            checks.append(PreflightCheck("primary settings", passed: false, "\(error)"))
        }
        checks.append(await setup.provisioner.check(followerPort: setup.database.followerPort))
        return checks
    }

    /// The backlog must hold what the primary writes while the initial sync runs, or the
    /// replica falls into a full resync loop: estimated from the write rate and the data size.
    /// Whether the primary's replication backlog holds what is written while a follower's first
    /// sync runs. The write rate is measured over a quarter second from the bytes the primary
    /// receives (`total_net_input_bytes`), which move whether or not it has a replica (its
    /// `master_repl_offset` stays 0 on a primary that never had one), or from that offset when it
    /// moves faster.
    private func backlogCheck(_ connection: RedisConnection) async -> PreflightCheck {
        do {
            let first = RedisInfo(
                parsing: try await connection.command(["INFO"], timeout: policy.connectTimeout).string ?? "")
            let clock = ContinuousClock()
            let started = clock.now
            try await Task.sleep(for: .milliseconds(250))
            let second = RedisInfo(
                parsing: try await connection.command(["INFO"], timeout: policy.connectTimeout).string ?? "")
            let elapsed = (clock.now - started).seconds
            func delta(_ key: String) -> Double {
                Double(max(0, (second.integer(key) ?? 0) - (first.integer(key) ?? 0)))
            }
            let rate = max(delta("master_repl_offset"), delta("total_net_input_bytes")) / elapsed
            let dataset = Double(first.integer("used_memory") ?? 0)
            let syncSeconds = 2 + dataset / (50 * 1024 * 1024)  // a conservative 50 MB/s for the RDB transfer
            let needed = Int64(rate * syncSeconds * 2)
            let backlog = Int64(try await configValue(connection, "repl-backlog-size") ?? "") ?? 0
            let mebibytes = (needed + (1 << 20) - 1) >> 20
            return PreflightCheck(
                "replication backlog", passed: backlog >= needed,
                "repl-backlog-size \(backlog) bytes; about \(needed) bytes written during a \(Int(syncSeconds)) s sync at \(Int(rate)) bytes/s"
                    + (backlog >= needed
                        ? ""
                        : ": set repl-backlog-size \(mebibytes)mb or more (CONFIG SET repl-backlog-size \(mebibytes)mb)")
            )
        } catch {
            return PreflightCheck("replication backlog", passed: false, "cannot measure: \(error)")
        }
    }

    private func configValue(_ connection: RedisConnection, _ key: String) async throws -> String? {
        let reply = try await connection.command(["CONFIG", "GET", key], timeout: policy.connectTimeout)
        guard let items = reply.array, items.count >= 2 else { return nil }
        return items[1].string
    }

    // MARK: provision and catch-up

    private var followerRunning: Bool {
        get async { await setup.provisioner.isRedisFollowerRunning(changeover: setup.changeover, facts: [:]) }
    }

    public func provision(_ facts: inout Facts) async throws {
        // Provisioned before an interruption (perhaps before its facts were recorded): learn
        // the running follower's port from where it runs.
        if let existing = try await setup.provisioner.runningRedisFollower(changeover: setup.changeover) {
            facts.merge(existing.facts) { _, new in new }
            facts.followerHost = existing.host
            facts.followerPort = existing.port
            facts.merge(try await setup.provisioner.imageFacts(from: setup.fromImage, to: setup.toImage)) { old, _ in
                old
            }
            return
        }
        facts.merge(try await setup.provisioner.imageFacts(from: setup.fromImage, to: setup.toImage)) { old, _ in old }
        let primary = try await onPrimary("connect to the primary") { $0 }
        var settings: [(String, String)] = []
        for key in Self.carriedSettings {
            if let value = try? await configValue(primary, key) {
                settings.append((key, LocalRedis.quote(value)))
            }
        }
        settings.append(("replicaof", "\(primaryEndpoint.host) \(primaryEndpoint.port)"))
        if let replicationPassword { settings.append(("masterauth", LocalRedis.quote(replicationPassword))) }
        if let replicationUser { settings.append(("masteruser", LocalRedis.quote(replicationUser))) }
        settings.append(("replica-read-only", "yes"))
        // Users and their hashed passwords come along, so clients log in to the new primary as before.
        var acl: String?
        if let users = try? await primary.command(["ACL", "LIST"], timeout: policy.connectTimeout).array, !users.isEmpty
        {
            acl = users.compactMap(\.string).joined(separator: "\n") + "\n"
            facts.followerACLUsers = users.count
        } else if let password = primaryEndpoint.password {
            settings.append(("requirepass", LocalRedis.quote(password)))
        }
        // Where the primary's configuration is and which process it is: a follower made as the
        // primary is made (a Debian instance) is given its file, and its service is disabled.
        let info = RedisInfo(
            parsing: (try? await primary.command(["INFO", "server"], timeout: policy.connectTimeout).string) ?? "")
        let configFile = info["config_file"].flatMap { $0.isEmpty ? nil : $0 }
        facts.oldConfigFile = configFile
        facts.oldPID = info["process_id"].flatMap { Int32($0) }
        let follower = try await setup.provisioner.createRedisFollower(
            changeover: setup.changeover, image: setup.toImage, port: setup.database.followerPort, settings: settings,
            acl: acl, primaryConfigFile: configFile, primaryBind: try? await configValue(primary, "bind"),
            timeout: .seconds(30))
        facts.merge(follower.facts) { _, new in new }
        facts.followerHost = follower.host
        facts.followerPort = follower.port
    }

    public func catchUp(_ facts: inout Facts) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + catchUp.timeout
        var heldSince: ContinuousClock.Instant?
        var lastReport = clock.now - .seconds(10)
        var state = "not connected yet"
        var reportedKind = ""
        let caughtUp = try await poll(
            every: catchUp.pollEvery,
            until: { () async throws -> Bool in
                guard await followerRunning else { throw EngineError("the follower stopped during catch-up") }
                let timeout = policy.connectTimeout
                let mine = RedisInfo(
                    parsing: try await onFollower(
                        facts, "read the follower's replication state", policy: .untilDeadline,
                        until: deadline
                    ) {
                        try await $0.command(["INFO"], timeout: timeout).string ?? ""
                    })
                let theirs = RedisInfo(
                    parsing: try await onPrimary(
                        "read the primary's replication state", policy: .untilDeadline,
                        until: deadline
                    ) {
                        try await $0.command(["INFO", "replication"], timeout: timeout).string ?? ""
                    })
                let now = clock.now
                let port = facts.followerPort ?? 0
                let entry = theirs.replicas.first { $0.port == port }
                if mine["master_sync_in_progress"] == "1" {
                    heldSince = nil
                    let total = mine.integer("master_sync_total_bytes") ?? -1
                    let read = mine.integer("master_sync_read_bytes") ?? 0
                    state =
                        total > 0
                        ? "initial sync \(read / 1024) of \(total / 1024) kB (\(read * 100 / total)%)"
                        : "initial sync \(read / 1024) kB received"
                } else if mine["loading"] == "1" {
                    heldSince = nil
                    state = "initial sync: loading the primary's data, \(mine["loading_loaded_perc"] ?? "?")%"
                } else if mine["master_link_status"] == "up", let entry, entry.state == "online",
                    let offset = mine.integer("slave_repl_offset"), let master = theirs.integer("master_repl_offset")
                {
                    let lag = max(0, master - offset)
                    facts.catchUpLagBytes = lag
                    state = "lag \(lag) bytes, last acknowledgement \(entry.lag) s ago"
                    if lag <= catchUp.maxLagBytes && Double(entry.lag) <= max(1, catchUp.maxLagTime.seconds) {
                        heldSince = heldSince ?? now
                    } else {
                        heldSince = nil
                    }
                } else {
                    heldSince = nil
                    state = "link \(mine["master_link_status"] ?? "down")"
                }
                let kind = state.split(separator: " ").prefix(2).joined(separator: " ")
                if now - lastReport >= .seconds(1) || kind != reportedKind {
                    progress(state)
                    lastReport = now
                    reportedKind = kind
                }
                if let heldSince, now - heldSince >= catchUp.holdFor { return true }
                return false
            }, deadline: deadline)
        guard caughtUp else {
            throw EngineError(
                "the follower did not catch up within \(catchUp.timeout.seconds) s (\(state), must stay under \(catchUp.maxLagBytes) bytes for \(catchUp.holdFor.seconds) s)"
            )
        }
    }

    // MARK: the switchover

    public func prepareFence(_ facts: inout Facts) async throws {
        _ = try await onPrimary("connect to the primary") { $0 }
        _ = try await onFollower(facts, "connect to the follower") { $0 }
    }

    /// How long the pause may last: if the controller dies mid-switchover, the old primary
    /// takes writes again when it expires — before the promotion that is a clean rollback.
    private var pauseMilliseconds: Int {
        Int(
            (policy.fenceTimeout + policy.replayTimeout + policy.promoteTimeout + setup.database.router.timeout)
                .milliseconds)
    }

    public func fence(_ facts: inout Facts) async throws {
        let timeout = policy.fenceTimeout
        let pause = pauseMilliseconds
        // Pausing again only moves the pause's end; the offset is read under the pause.
        let (pausedAt, text) = try await onPrimary("pause the primary's writes", policy: .inPause) { primary in
            let pausedAt = Date()
            _ = try await primary.command(["CLIENT", "PAUSE", String(pause), "WRITE"], timeout: timeout)
            return (pausedAt, try await primary.command(["INFO", "replication"], timeout: timeout).string ?? "")
        }
        facts.paused = true
        facts.pausedUntilMilliseconds =
            Int64((pausedAt.timeIntervalSince1970 * 1000).rounded()) + Int64(pauseMilliseconds)
        let info = RedisInfo(parsing: text)
        guard let offset = info.integer("master_repl_offset") else {
            throw EngineError("the primary did not report master_repl_offset")
        }
        facts.finalOffset = offset
        facts.finalPosition = "offset \(offset)"
    }

    public func finalSync(_ facts: inout Facts) async throws {
        guard let final = facts.finalOffset else {
            throw EngineError("no final offset was recorded by the fence")
        }
        let clock = ContinuousClock()
        let deadline = clock.now + policy.replayTimeout
        let timeout = policy.replayTimeout
        var reached = ""
        let synced = try await poll(
            every: .milliseconds(1),
            until: { () async throws -> Bool in
                let role = try RedisRole(
                    try await onFollower(facts, "read the follower's offset", policy: .inPause, until: deadline) {
                        try await $0.command(["ROLE"], timeout: timeout)
                    })
                guard case .replica(_, _, let state, let offset) = role else {
                    throw EngineError("the follower is no longer a replica")
                }
                if offset >= final {
                    // The pause must still hold when the follower is promoted, or the old primary
                    // could have taken writes the follower never saw.
                    let until = facts.pausedUntilMilliseconds.map(Double.init) ?? 0
                    guard Date().timeIntervalSince1970 * 1000 < until - 1000 else {
                        throw EngineError("the primary's write pause expires before the promotion could follow it")
                    }
                    facts.followerOffset = offset
                    return true
                }
                reached = "\(offset) (\(state))"
                return false
            }, deadline: deadline)
        guard synced else {
            throw EngineError(
                "the follower reached offset \(reached), not the primary's final \(final), within \(policy.replayTimeout.seconds) s"
            )
        }
    }

    public func promote(_ facts: inout Facts) async throws -> Endpoint {
        // A follower that answers on final-sync's connection runs (a round trip to it, not to its
        // host: the provisioner's look may cost an ssh round trip inside the pause).
        let answers = (try? await followerConnection?.command(["PING"], timeout: policy.connectTimeout)) != nil
        let runs = answers ? true : await followerRunning
        guard runs else { throw PromotionNotRequested("the follower stopped before it could be promoted") }
        let timeout = policy.promoteTimeout
        let role = try RedisRole(
            try await onFollower(facts, "promote the follower", policy: .inPause) { follower in
                _ = try await follower.command(["REPLICAOF", "NO", "ONE"], timeout: timeout)
                return try await follower.command(["ROLE"], timeout: timeout)
            })
        guard case .master = role else { throw EngineError("the follower is still a replica after REPLICAOF NO ONE") }
        return try newPrimaryEndpoint(facts)
    }

    public func isPromoted(_ facts: Facts) async -> Bool {
        guard await followerRunning, let endpoint = try? newPrimaryRedisEndpoint(facts),
            let connection = try? await RedisConnection.connect(endpoint, timeout: policy.connectTimeout)
        else { return false }
        defer { connection.close() }
        guard let reply = try? await connection.command(["ROLE"], timeout: policy.connectTimeout),
            case .master = try? RedisRole(reply)
        else { return false }
        return true
    }

    public func demoteOldPrimary(_ facts: inout Facts) async throws {
        guard let host = facts.followerHost, let port = facts.followerPort.map(String.init) else {
            throw EngineError("no follower")
        }
        let timeout = policy.promoteTimeout
        let password = replicationPassword
        let user = replicationUser
        try await onPrimary("make the old primary a replica of the new one", policy: .inPause) { primary in
            if let password {
                _ = try await primary.command(["CONFIG", "SET", "masterauth", password], timeout: timeout)
            }
            if let user { _ = try await primary.command(["CONFIG", "SET", "masteruser", user], timeout: timeout) }
            _ = try await primary.command(["REPLICAOF", host, port], timeout: timeout)
            _ = try await primary.command(["CLIENT", "UNPAUSE"], timeout: timeout)
        }
        facts.paused = false
        facts.oldRole = "replica of \(host):\(port)"
    }

    public func verify(_ facts: inout Facts) async throws {
        let endpoint = try newPrimaryRedisEndpoint(facts)
        let key = "changeover:verify:\(setup.changeover)"
        let timeout = policy.verifyTimeout
        let role = try await retries.run("write on the new primary") {
            let connection = try await RedisConnection.connect(endpoint, timeout: timeout)
            defer { connection.close() }
            _ = try await connection.command(
                ["SET", key, ISO8601DateFormatter().string(from: Date()), "PX", "600000"],
                timeout: timeout)
            return try await connection.command(["ROLE"], timeout: timeout)
        }
        guard case .master = try RedisRole(role) else {
            throw EngineError("the new primary is not a master")
        }
        facts.verifyKey = key
    }

    public func settle(_ facts: inout Facts) async throws {
        // The promotion survives a restart of the new primary only once its config file says so.
        let follower = try await follower(facts)
        _ = try await follower.command(["CONFIG", "REWRITE"], timeout: policy.verifyTimeout)
        // And the old primary's says it is a replica of the new one: restarted by whatever
        // started it before, it cannot come back as a second primary. Its file may be read-only
        // to it (a container's image), which is no reason to stop here.
        if let old = try? await primary() {
            _ = try? await old.command(["CONFIG", "REWRITE"], timeout: policy.verifyTimeout)
        }
        if let done = try await setup.provisioner.disableOldRedisService(facts) { facts.oldService = done }
        followerConnection?.close()
        followerConnection = nil
        primaryConnection?.close()
        primaryConnection = nil
        if setup.database.retireAfter == .zero { _ = try await retireOldPrimary(&facts) }
    }

    public func retireOldPrimary(_ facts: inout Facts) async throws -> String {
        defer {
            primaryConnection?.close()
            primaryConnection = nil
        }
        // Already gone (retired before, or shut down by its owner): nothing left to do.
        guard let old = try? await primary() else {
            facts.oldRetired = true
            let removed = try await setup.provisioner.retireOldRedis(facts)
            return "\(primaryEndpoint) is already gone" + (removed.map { "; \($0)" } ?? "")
        }
        guard case .replica = try RedisRole(try await old.command(["ROLE"], timeout: policy.connectTimeout)) else {
            throw EngineError("\(primaryEndpoint) is a primary again; it was not retired")
        }
        _ = try? await old.command(["SHUTDOWN", "NOSAVE"], timeout: policy.fenceTimeout)
        facts.oldRetired = true
        let removed = try await setup.provisioner.retireOldRedis(facts)
        return "\(primaryEndpoint), a replica of the new primary, was shut down" + (removed.map { "; \($0)" } ?? "")
    }

    // MARK: rollback

    public func rollBack(_ facts: inout Facts) async throws {
        followerConnection?.close()
        followerConnection = nil
        try await setup.provisioner.removeRedisFollower(
            changeover: setup.changeover, facts: facts, timeout: policy.fenceTimeout)
        primaryConnection?.close()
        primaryConnection = nil
        let timeout = policy.connectTimeout
        _ = try await onPrimary("let the primary take writes again (CLIENT UNPAUSE)") {
            try await $0.command(["CLIENT", "UNPAUSE"], timeout: timeout)
        }
        facts.paused = false
    }

    // MARK: helpers

    /// `body` on the primary's connection; after a transient failure the connection is dropped
    /// and `body` tried again on a new one, as `policy` allows.
    private func onPrimary<T>(
        _ call: String, policy retry: RetryPolicy = .standard, until deadline: ContinuousClock.Instant? = nil,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        try await retries.run(
            call, policy: retry, until: deadline, on: primary,
            drop: {
                self.primaryConnection?.close()
                self.primaryConnection = nil
            }, body)
    }

    /// `body` on the follower's connection, retried like `onPrimary`.
    private func onFollower<T>(
        _ facts: Facts, _ call: String, policy retry: RetryPolicy = .standard,
        until deadline: ContinuousClock.Instant? = nil,
        _ body: (RedisConnection) async throws -> T
    ) async throws -> T {
        try await retries.run(
            call, policy: retry, until: deadline, on: { try await self.follower(facts) },
            drop: {
                self.followerConnection?.close()
                self.followerConnection = nil
            }, body)
    }

    private func primary() async throws -> RedisConnection {
        if let primaryConnection, primaryConnection.isOpen { return primaryConnection }
        let connection = try await RedisConnection.connect(primaryEndpoint, timeout: policy.connectTimeout)
        primaryConnection = connection
        return connection
    }

    private func follower(_ facts: Facts) async throws -> RedisConnection {
        if let followerConnection, followerConnection.isOpen { return followerConnection }
        let connection = try await RedisConnection.connect(
            try newPrimaryRedisEndpoint(facts), timeout: policy.connectTimeout)
        followerConnection = connection
        return connection
    }

    private func newPrimaryRedisEndpoint(_ facts: Facts) throws -> RedisEndpoint {
        guard let host = facts.followerHost, let port = facts.followerPort else {
            throw EngineError("no follower was provisioned")
        }
        return RedisEndpoint(host: host, port: port, user: primaryEndpoint.user, password: primaryEndpoint.password)
    }

    private func newPrimaryEndpoint(_ facts: Facts) throws -> Endpoint {
        let endpoint = try newPrimaryRedisEndpoint(facts)
        return DatabasePrimary.redis(host: endpoint.host, port: endpoint.port, user: endpoint.user).endpoint
    }
}
