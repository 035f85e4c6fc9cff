import Foundation
import Logging
import PostgresClient
import Synchronization

/// What a changeover tells its watcher as it goes.
public enum ChangeoverEvent: Sendable {
    case started(id: String, database: String, from: String, to: String)
    case stepStarted(ChangeoverStep)
    case checks([PreflightCheck])
    case progress(String)
    /// A remote call failed transiently and will be tried again.
    case retry(RetryNote)
    case stepFinished(ChangeoverStep, milliseconds: Double, error: String?)
    /// The controller stopped in this step before the switchover (a signal, or `prepare` is done).
    case stopped(ChangeoverStep, reason: String)
    /// A notice went to the notify targets; `failure` says which did not take it (a warning:
    /// the changeover goes on as if it had).
    case notified(NotifyEvent, failure: String?)
}

/// Another controller holds the database's lease.
public struct DatabaseLeased: Error, CustomStringConvertible, Sendable {
    public var database: String
    public var state: LeaseState?
    public var description: String {
        guard let lease = state?.lease else { return "database \(database) is leased by another controller" }
        return "database \(database) is leased by \(lease.holder) for changeover \(lease.changeover) until "
            + "\(ISO8601DateFormatter().string(from: lease.expiresAt)) (fencing token \(lease.token)); "
            + "wait for it to finish, or for its lease to expire if that controller died"
    }
}

/// A changeover that cannot be resumed or aborted as asked.
public struct ChangeoverRefused: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Test-only fault injection: `CHANGEOVER_FAULT=kill-before:STEP` or `kill-after:STEP` makes the
/// controller SIGKILL itself at that step boundary (after the step's start is recorded, or
/// after its action returned and before its outcome is recorded). Tests use it to prove that
/// `resume` picks up from any instant; nothing else reads this variable.
struct Fault: Sendable {
    var before: ChangeoverStep?
    var after: ChangeoverStep?

    init(_ spec: String?) {
        guard let spec, let colon = spec.firstIndex(of: ":") else { return }
        let step = ChangeoverStep(rawValue: String(spec[spec.index(after: colon)...]))
        switch spec[..<colon] {
        case "kill-before": before = step
        case "kill-after": after = step
        default: break
        }
    }

    func strike(before step: ChangeoverStep) { if before == step { kill(getpid(), SIGKILL) } }
    func strike(after step: ChangeoverStep) { if after == step { kill(getpid(), SIGKILL) } }
}

/// Passes progress lines on to the watcher and keeps the latest in the state store (at most
/// once a second) so that `status` can tell what a running changeover waits for.
final class ProgressWriter: Sendable {
    let store: StateStore
    let changeover: String
    let events: @Sendable (ChangeoverEvent) -> Void
    private let lastWrite = Mutex<ContinuousClock.Instant?>(nil)

    init(store: StateStore, changeover: String, events: @escaping @Sendable (ChangeoverEvent) -> Void) {
        self.store = store
        self.changeover = changeover
        self.events = events
    }

    func callAsFunction(_ text: String) {
        events(.progress(text))
        let now = ContinuousClock.now
        let due = lastWrite.withLock { last -> Bool in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        if due { store.saveProgress(text, of: changeover) }
    }
}

/// The outcome of `run`, for printing.
public struct ChangeoverSummary: Sendable, Codable {
    public var id: String
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var outcome: ChangeoverMachine.Outcome
    public var failedStep: ChangeoverStep?
    public var failure: String?
    /// The changeover failed because its rollback could not finish: `abort` tries it again.
    public var rollbackUnfinished: Bool
    public var timings: [ChangeoverRecord.StepTiming]
    /// The old primary's last position the follower had to reach: an LSN, a replication offset.
    public var finalPosition: String?
    /// From the old primary's stop signal to the router's resume, as the controller saw it.
    public var writePauseMilliseconds: Double?
    public var newPrimary: Endpoint?
    public var oldPrimary: Endpoint
    public var totalMilliseconds: Double
    public var facts: Facts
    /// With outcome `stopped`: where and why the controller stopped.
    public var stopped: StopNote?
}

/// What `plan` found: the checks, the steps, what would be created. Touches nothing.
public struct ChangeoverPlan: Sendable, Codable {
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var primary: Endpoint
    public var checks: [PreflightCheck]
    public var resources: [String]
    public var steps: [String]
    public var ready: Bool { checks.allSatisfy(\.passed) }
}

/// The executor: drives `ChangeoverMachine`, persists the record before every step, writes the
/// audit record that authorises a step (fsynced) before performing it, and maps each step to
/// the engine and the router.
public struct ChangeoverRunner: Sendable {
    public var config: FleetConfig
    public var logger: Logger
    /// Who is acting, for the audit log: "user@host pid N".
    public var actor: String
    public var environment: [String: String]
    public var events: @Sendable (ChangeoverEvent) -> Void
    /// Asked to stop (SIGTERM): the changeover stops in a resumable state before its
    /// switchover, or finishes (or rolls back) a switchover that began.
    public var stop = StopSignal()
    /// The time the window decisions are made at; a test may pass its own.
    public var now: @Sendable () -> Date = { Date() }
    /// Set when the daemon drives the changeover (it picks up what it stopped itself).
    public var isDaemon = false
    /// The lease the daemon claimed for the changeover and when it sent the claim; without it
    /// the runner claims the database's lease itself before its first step.
    public var claimed: (lease: Lease, at: ContinuousClock.Instant)?

    public init(config: FleetConfig, logger: Logger = Logger(label: "changeover"),
                actor: String = ChangeoverRunner.defaultActor(),
                environment: [String: String] = ProcessInfo.processInfo.environment,
                events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }) {
        self.config = config
        self.logger = logger
        self.actor = actor
        self.environment = environment
        self.events = events
    }

    public static func defaultActor() -> String {
        let user = ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "uid \(getuid())"
        return "\(user)@\(ProcessInfo.processInfo.hostName) pid \(getpid())"
    }

    public var store: StateStore { StateStore(config: config, environment: environment) }

    /// Audits changes of state outside a changeover's steps before they are made.
    public var journal: Journal { Journal(auditLog: config.auditLog, actor: actor) }

    /// Everything a changeover needs, resolved from the config, the state store and the secrets.
    /// Fails with a one-line `ConfigError` before any server is touched.
    struct Prepared {
        var id: String
        var database: DatabaseConfig
        var fromImage: FleetConfig.Image
        var toImage: FleetConfig.Image
        var oldEndpoint: Endpoint
        /// The container the old primary runs in (docker provisioner).
        var oldContainer: String?
        var engine: any Engine
        var router: any Router
        var provisioner: any Provisioner
        var retries: Retrier
        var resumed = false
    }

    func prepare(database name: String, image imageName: String, id: String,
                 from recordedImage: String? = nil, primary recordedPrimary: String? = nil,
                 container recordedContainer: String? = nil, followerPort recordedFollowerPort: Int? = nil) throws -> Prepared {
        var database = try config.database(name)
        let toImage = try config.image(imageName)
        if let state = try store.database(name) {
            database.image = state.image
            database.primary = try DatabasePrimary.parse(state.primary, engine: database.engine)
            if let container = state.container { database.container = container }
        }
        if let recordedImage { database.image = recordedImage }
        if let recordedPrimary { database.primary = try DatabasePrimary.parse(recordedPrimary, engine: database.engine) }
        if let recordedContainer { database.container = recordedContainer }
        try chooseFollowerPort(&database, recorded: recordedFollowerPort)
        let fromImage = try config.image(database.image)
        let events = self.events
        let store = self.store
        let retries = Retrier { note in
            store.saveRetry(note, of: id)
            events(.retry(note))
        }
        let provisioner: any Provisioner = switch config.provisioner.kind {
        case .local:
            LocalProvisioner(root: config.provisioner.root, runAs: config.provisioner.runAs,
                             listenAddress: database.followerListen ?? "127.0.0.1", listenConfigured: database.followerListen != nil,
                             advertise: database.followerAdvertise,
                             keptLogs: "\(config.stateDirectory)/logs", service: config.provisioner.service)
        case .docker:
            DockerProvisioner(client: DockerEngineClient(socket: config.provisioner.socket ?? ""),
                              database: database.name, primaryContainer: database.container,
                              labels: config.provisioner.labels)
        case .exec:
            ExecProvisioner(command: ExecCommand(argv: config.provisioner.command, timeout: config.provisioner.timeout),
                            changeover: id, database: database.name, engine: database.engine,
                            primary: database.primary.endpoint)
        case .ssh:
            SSHProvisioner(
                hosts: config.provisioner.ssh?.hosts ?? [],
                login: SSHLogin(user: config.provisioner.ssh?.user ?? "root", identity: config.provisioner.ssh?.identity ?? "",
                                knownHosts: config.provisioner.ssh?.knownHosts ?? "", controlDirectory: "\(config.stateDirectory)/ssh"),
                root: config.provisioner.root, runAs: config.provisioner.runAs, placement: config.provisioner.ssh?.placement ?? [:],
                primaryAddress: database.primary.host, listen: database.followerListen, advertise: database.followerAdvertise,
                timeout: config.provisioner.timeout, service: config.provisioner.service)
        }
        var setup = EngineSetup(
            changeover: id, database: database, fromImage: fromImage, toImage: toImage,
            provisioner: provisioner,
            stateDirectory: config.stateDirectory, environment: environment, logger: logger, progress: ProgressWriter(store: store, changeover: id, events: events).callAsFunction)
        setup.retries = retries
        let engine: any Engine = switch database.engine {
        case .postgres: try PostgresEngine(setup)
        case .redis: try RedisEngine(setup)
        }
        let router: any Router = switch database.router.kind {
        case .none: NoRouter()
        case .hook: HookRouter(command: database.router.command ?? "", timeout: database.router.timeout)
        case .pgbouncer:
            PgBouncerRouter(
                admin: database.router.admin ?? ConnInfo(parameters: []),
                password: try database.router.password?.value(environment: environment),
                database: database.router.database, includeFile: database.router.include ?? "",
                timeout: database.router.timeout)
        case .haproxy:
            HAProxyRouter(socket: database.router.socket ?? "", backend: database.router.backend ?? "",
                          server: database.router.server ?? "", timeout: database.router.timeout)
        }
        return Prepared(id: id, database: database, fromImage: fromImage, toImage: toImage,
                        oldEndpoint: engine.currentPrimary, oldContainer: database.container, engine: engine, router: router,
                        provisioner: provisioner, retries: retries)
    }

    /// The follower's port: the one a resumed changeover's follower has; else with
    /// `follower.ports`, the first port of the range that is free and not the primary's; a fixed
    /// `follower.port` the primary holds now (a changeover made its follower the primary) is
    /// refused, with the range to give instead.
    func chooseFollowerPort(_ database: inout DatabaseConfig, recorded: Int?) throws(ConfigError) {
        let primary = database.primary.port
        let local = ["127.0.0.1", "localhost", "::1"].contains(database.primary.host) && config.provisioner.kind == .local
        if let recorded {
            database.followerPort = recorded
        } else if let range = database.followerPorts {
            guard let port = range.first(where: { !(local && $0 == primary) && FreePort.isFree($0) }) else {
                throw ConfigError("no free port in follower.ports \(range.lowerBound)-\(range.upperBound) of database \(database.name)")
            }
            database.followerPort = port
        } else if let port = database.followerPort, local, port == primary {
            throw ConfigError("follower port \(port) of database \(database.name) is its primary's port now (the last changeover "
                + "made that follower the primary); give a range instead, follower: {ports: \(port)-\(min(65535, port + 7))}, "
                + "and each changeover takes a free port of it")
        }
    }

    /// "orders-20260105-100000-3fa2": the database, the UTC second, a random suffix.
    public static func newID(database: String, at time: Date = Date()) -> String {
        "\(database)-\(idStamp(time))-\(String(UInt32.random(in: 0..<0x10000), radix: 16))"
    }

    /// "20260105-100000", the UTC second an id carries. Broken down with `gmtime_r`: a daemon
    /// recording 10,000 scheduled changeovers spent a tenth of that look making a
    /// `DateFormatter` for each id.
    static func idStamp(_ time: Date) -> String {
        var seconds = time_t(time.timeIntervalSince1970.rounded(.down))
        var utc = tm()
        gmtime_r(&seconds, &utc)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(utc.tm_year + 1900)\(two(utc.tm_mon + 1))\(two(utc.tm_mday))-\(two(utc.tm_hour))\(two(utc.tm_min))\(two(utc.tm_sec))"
    }

    // MARK: plan

    public func plan(database: String, image: String) async throws -> ChangeoverPlan {
        let prepared = try prepare(database: database, image: image, id: Self.newID(database: database))
        let checks = await preflight(prepared)
        let routerStep = switch prepared.database.router.kind {
        case .none: "clients follow by themselves (no router configured)"
        case .hook: "run the hook command with the new primary's address"
        case .pgbouncer: "rewrite pgbouncer's databases line, RELOAD, RESUME (paused before the fence)"
        case .haproxy: "haproxy runtime API: set server addr, shut down the old sessions"
        }
        return ChangeoverPlan(
            database: database, fromImage: prepared.fromImage.name, toImage: prepared.toImage.name,
            primary: prepared.oldEndpoint, checks: checks, resources: prepared.engine.plannedResources(),
            steps: ChangeoverStep.forward.map { step in
                step == .repoint ? "\(step): \(routerStep)" : "\(step): \(step.summary(for: prepared.database.engine))"
            })
    }

    /// A database's preflight, read-only (`check --connect`): the checks a changeover to `image`
    /// would make; without an image, those of a changeover to the image the database runs now,
    /// less the one that wants a new image.
    public func preflight(database: String, image: String? = nil) async throws -> [PreflightCheck] {
        let current = try store.database(database)?.image ?? config.database(database).image
        let prepared = try prepare(database: database, image: image ?? current, id: Self.newID(database: database))
        let checks = await preflight(prepared)
        guard image == nil else { return checks }
        let sameImage = await prepared.provisioner.newImageCheck(from: prepared.fromImage, to: prepared.toImage)
        return checks.filter { $0 != sameImage }
    }

    /// The engine's checks and the router's.
    private func preflight(_ prepared: Prepared) async -> [PreflightCheck] {
        await prepared.engine.preflight() + [await prepared.router.check(database: prepared.database.name, primary: prepared.oldEndpoint)]
    }

    // MARK: run, resume, abort

    /// Records a new changeover and drives it in this process. `policy` says when it may switch:
    /// at once (the default), in the database's window, or never (`prepare`).
    public func run(database: String, image: String, policy: SwitchPolicy = .now) async throws -> ChangeoverSummary {
        let id = Self.newID(database: database)
        _ = try config.database(database)
        _ = try config.image(image)
        let lock = try store.lock(database: database, changeover: id, actor: actor)
        let prepared = try prepare(database: database, image: image, id: id)
        var record = ChangeoverRecord(
            id: id, database: database, fromImage: prepared.fromImage.name, toImage: prepared.toImage.name,
            machine: ChangeoverMachine(), startedAt: Date(), updatedAt: Date(),
            facts: ["old.address": prepared.oldEndpoint.address], timings: [], policy: policy)
        if let container = prepared.oldContainer { record.facts["old.container"] = container }
        let first = try record.machine.handle(.begin)
        return try await drive(&record, prepared, lock: lock, first: first, opening: (
            "started", "\(prepared.fromImage.name) → \(prepared.toImage.name)",
            ["from": prepared.fromImage.name, "to": prepared.toImage.name, "primary": prepared.oldEndpoint.description]
                .merging(policy.auditFacts) { a, _ in a }))
    }

    /// Continues a changeover another controller left, from the step it stopped in. Every step
    /// is idempotent; a changeover interrupted between the fence and the promotion fences again.
    /// With `policy` (`switch`), the changeover's switch policy is replaced first.
    public func resume(id: String, policy: SwitchPolicy? = nil) async throws -> ChangeoverSummary {
        var record = try storedChangeover(id)
        let lock = try store.lock(database: record.database, changeover: id, actor: actor)
        if record.machine.step == .pending, record.policy != nil {
            return try await start(&record, lock: lock, policy: policy)  // a scheduled changeover
        }
        let prepared = try prepare(resuming: record)
        let interrupted = record.machine.step
        let promoted = interrupted.isTerminal ? false : await prepared.engine.isPromoted(record.facts)
        let first = try record.machine.handle(.resumed(promoted: promoted))
        var facts: Facts = ["step": interrupted.rawValue, "follower.promoted": String(promoted)]
        if let policy {
            record.policy = policy
            facts.merge(policy.auditFacts) { a, _ in a }
        }
        let why = record.stopped.map { "\($0.kind == .prepared ? "prepared" : "stopped") in \(interrupted)" } ?? "interrupted in \(interrupted)"
        return try await drive(&record, prepared, lock: lock, first: first, opening: (
            policy != nil ? "switch-requested" : "resumed", why, facts))
    }

    /// Rolls a changeover back to the old primary, if it has not reached the promotion.
    public func abort(id: String, reason: String = "aborted by the operator") async throws -> ChangeoverSummary {
        var record = try storedChangeover(id)
        let lock = try store.lock(database: record.database, changeover: id, actor: actor)
        let step = record.machine.step
        guard record.machine.canContinue else {
            throw ChangeoverRefused(description: "changeover \(id) already ended (\(step)); there is nothing to abort")
        }
        let prepared = try prepare(resuming: record)
        if step == .promote || step == .finalSync, await prepared.engine.isPromoted(record.facts) {
            throw ChangeoverRefused(description: "changeover \(id) is past the point of no return (the follower was promoted); run resume to finish it")
        }
        let first: ChangeoverMachine.Action
        do {
            first = try record.machine.handle(.abortRequested(reason))
        } catch {
            throw ChangeoverRefused(description: "changeover \(id) is past the point of no return (\(step)); run resume to finish it")
        }
        return try await drive(&record, prepared, lock: lock, first: first, opening: (
            "abort-requested", reason, ["step": step.rawValue]))
    }

    private func storedChangeover(_ id: String) throws -> ChangeoverRecord {
        guard let record = try store.changeover(id) else {
            throw ConfigError("no changeover \(id) in \(store.directory)")
        }
        return record
    }

    /// The engine and router of a stored changeover: the old primary and images it recorded,
    /// whatever the state store says now.
    func prepare(resuming record: ChangeoverRecord) throws -> Prepared {
        var prepared = try prepare(database: record.database, image: record.toImage, id: record.id,
                                   from: record.fromImage, primary: record.facts["old.address"],
                                   container: record.facts["old.container"], followerPort: record.facts["follower.port"].flatMap(Int.init))
        prepared.resumed = true
        return prepared
    }

    /// Drives the changeover under the database's lease: the one the daemon claimed for it
    /// (`claimed`), or one claimed now. The lease is renewed all along and let go at the end,
    /// or abandoned as it is when it was lost (it is not ours any more).
    func drive(_ record: inout ChangeoverRecord, _ prepared: Prepared, lock: DatabaseLock,
               first: ChangeoverMachine.Action, opening: (String, String, Facts)) async throws -> ChangeoverSummary {
        let stop = self.stop
        let onLost: @Sendable (LeaseLost) -> Void = { lost in stop.request(lost.description) }
        let keeper: LeaseKeeper
        if let claimed, claimed.lease.database == record.database {
            keeper = LeaseKeeper(lease: claimed.lease, store: store, claimedAt: claimed.at, onLost: onLost)
        } else {
            let sent = ContinuousClock.now
            guard let lease = try await store.claim(database: record.database, changeover: record.id, holder: actor, daemon: isDaemon) else {
                throw DatabaseLeased(database: record.database, state: try? await store.lease(of: record.database))
            }
            keeper = LeaseKeeper(lease: lease, store: store, claimedAt: sent, onLost: onLost)
        }
        keeper.start()
        let summary: ChangeoverSummary
        do {
            summary = try await drive(&record, prepared, lock: lock, lease: keeper, first: first, opening: opening)
        } catch {
            if error is LeaseLost { keeper.abandon() } else { await keeper.release() }
            throw error
        }
        await keeper.release()
        return summary
    }

    /// Performs actions until the machine finishes: confirms the lease (a write conditional on
    /// its token) before every step, makes the step's authorising audit record durable, persists
    /// the record (also conditional on the token), performs the step, records the outcome. The
    /// audit record comes first so that no reader of the store sees a step the log does not
    /// hold; a controller killed between the two leaves a `started` record for a step the store
    /// does not show, which `resume` performs (every step is idempotent). Every audit record
    /// carries the lease's token and holder.
    private func drive(_ record: inout ChangeoverRecord, _ prepared: Prepared, lock: DatabaseLock, lease: LeaseKeeper,
                       first: ChangeoverMachine.Action, opening: (String, String, Facts)) async throws -> ChangeoverSummary {
        let id = record.id, database = record.database
        let audit = try AuditLog(path: config.auditLog)
        let clock = ContinuousClock()
        let began = clock.now
        // The steps earlier controllers performed (a resumed or aborted changeover): the total
        // covers the whole changeover, not only this controller's part.
        let earlier = record.timings.reduce(0) { $0 + $1.milliseconds }
        let fault = Fault(environment["CHANGEOVER_FAULT"])
        events(.started(id: id, database: database, from: prepared.fromImage.name, to: prepared.toImage.name))
        var newPrimary = Self.newPrimary(from: record.facts)
        var pauseStarted: ContinuousClock.Instant?
        var pauseMilliseconds: Double?
        var caughtUpHere = false  // this controller performed the catch-up step (see awaitWindow)

        // Inside the write pause the controller does not wait for the disk: the steps from the
        // fence on are authorised by the fence's synced record, and their records and state are
        // written (a killed controller loses none) and synced together once the pause is over.
        let inPause: Set<ChangeoverStep> = [.finalSync, .promote, .repoint]
        func persist(sync: Bool = true) throws {
            try lease.check()
            record.updatedAt = Date()
            try store.save(record, sync: sync, lease: lease.lease)
        }
        // A step's outcome waits here and is made durable together with the next step's start:
        // one fsync per transition, and always before the next step acts.
        var unwritten: [AuditEntry] = []
        func log(_ step: String, _ outcome: String, _ message: String? = nil, _ facts: Facts = [:]) {
            unwritten.append(AuditEntry(changeover: id, database: database, step: step, outcome: outcome,
                                        message: message, facts: facts.merging(lease.lease.auditFacts) { a, _ in a }))
        }
        func flush(sync: Bool = true) throws {
            try lease.check()
            try audit.append(unwritten, actor: actor, time: Date(), sync: sync)
            unwritten.removeAll()
        }

        func summary(_ outcome: ChangeoverMachine.Outcome) -> ChangeoverSummary {
            ChangeoverSummary(
                id: id, database: database, fromImage: prepared.fromImage.name, toImage: prepared.toImage.name,
                outcome: outcome, failedStep: record.machine.failedStep, failure: record.machine.failure,
                rollbackUnfinished: record.machine.rollbackUnfinished == true,
                timings: record.timings, finalPosition: record.facts["final.position"], writePauseMilliseconds: pauseMilliseconds,
                newPrimary: outcome == .completed ? newPrimary : nil, oldPrimary: prepared.oldEndpoint,
                totalMilliseconds: earlier + (clock.now - began).milliseconds, facts: record.facts, stopped: record.stopped)
        }
        // Stops before the switchover: the record says where and why, `resume` performs the step again.
        func park(_ stopped: ChangeoverStopped, in step: ChangeoverStep) throws -> ChangeoverSummary {
            record.stopped = StopNote(kind: stopped.kind, reason: stopped.reason, step: step, by: actor, daemon: isDaemon, at: Date())
            let next = stopped.kind == .prepared
                ? "\(config.command("switch", id)) cuts over (add --now to cut over at once, else in the next window)"
                : "\(config.command("resume", id)) continues\(isDaemon ? " (so does the daemon when it starts again)" : "")"
            log("changeover", stopped.kind == .prepared ? "prepared" : "stopped", "\(stopped.reason); \(next)", ["step": step.rawValue])
            try flush()
            try persist()
            events(.stopped(step, reason: stopped.reason))
            withExtendedLifetime(lock) {}
            return summary(.stopped)
        }

        // The opening record goes out with the first step's; the record is saved after them.
        record.stopped = nil
        log("changeover", opening.0, opening.1, opening.2)
        var action = first
        while true {
            try await lease.confirm()
            switch action {
            case .perform(let step):
                if Self.stoppable.contains(step), let reason = stop.reason {
                    return try park(ChangeoverStopped(.stopped, reason), in: step)
                }
                _ = prepared.retries.takeCount()
                log(step.rawValue, "started")
                try flush(sync: !inPause.contains(step))
                try persist(sync: !inPause.contains(step))
                fault.strike(before: step)
                events(.stepStarted(step))
                let stepBegan = clock.now
                var failure: String?
                var untouched = false
                var stoppedBy: ChangeoverStopped?
                let factsBefore = record.facts
                let reminding = step == .provision || step == .catchUp ? startReminding(record, prepared) : nil
                do {
                    switch step {
                    case .preflight:
                        let checks = await prepared.engine.preflight()
                            + [await prepared.router.check(database: database, primary: prepared.oldEndpoint)]
                        events(.checks(checks))
                        let failed = checks.filter { !$0.passed }
                        if !failed.isEmpty {
                            throw EngineError(failed.map { "\($0.name): \($0.detail)" }.joined(separator: "; "))
                        }
                    case .provision:
                        try await prepared.engine.provision(&record.facts)
                    case .catchUp:
                        let engine = prepared.engine, facts = record.facts
                        record.facts = try await stop.interruptible {
                            var facts = facts
                            try await engine.catchUp(&facts)
                            return facts
                        }
                        caughtUpHere = true
                    case .awaitWindow:
                        try await awaitWindow(&record, prepared, caughtUpJustNow: caughtUpHere) { outcome, message, facts in
                            log(ChangeoverStep.awaitWindow.rawValue, outcome, message, facts)
                            try flush()
                        }
                    case .fence:
                        try await prepared.engine.prepareFence(&record.facts)
                        pauseStarted = clock.now
                        try await prepared.retries.run("pause the router", policy: .inPause) {
                            try await prepared.router.pause(database: database)
                        }
                        try await prepared.engine.fence(&record.facts)
                    case .finalSync:
                        try await prepared.engine.finalSync(&record.facts)
                    case .promote:
                        let endpoint = try await prepared.engine.promote(&record.facts)
                        newPrimary = endpoint
                        record.facts["new.host"] = endpoint.host
                        record.facts["new.port"] = String(endpoint.port)
                        record.facts["new.address"] = endpoint.address
                    case .repoint:
                        guard let newPrimary else { throw EngineError("no new primary to repoint to") }
                        try await prepared.retries.run("repoint the router", policy: .inPause) {
                            try await prepared.router.repoint(database: database, to: newPrimary, from: prepared.oldEndpoint,
                                                              changeover: id)
                        }
                        try await prepared.retries.run("resume the router", policy: .inPause) {
                            try await prepared.router.resume(database: database)
                        }
                        try await prepared.engine.demoteOldPrimary(&record.facts)
                        if let pauseStarted {
                            pauseMilliseconds = (clock.now - pauseStarted).milliseconds
                            record.facts["writePause.ms"] = String(format: "%.1f", pauseMilliseconds!)
                        }
                    case .verify:
                        try await prepared.engine.verify(&record.facts)
                    case .settle:
                        try await prepared.engine.settle(&record.facts)
                        if record.facts["old.retired"] != "true" {
                            let at = Date().addingTimeInterval(prepared.database.retireAfter.seconds)
                            record.facts["old.retireAt"] = ISO8601DateFormatter().string(from: at)
                        }
                        if let newPrimary {
                            try store.save(DatabaseState(
                                database: database, image: prepared.toImage.name, primary: newPrimary.address,
                                dataDirectory: record.facts["follower.dataDirectory"], changedAt: Date(), changeover: id,
                                container: record.facts["follower.container"]))
                        }
                    default:
                        throw EngineError("\(step) is not a forward step")
                    }
                } catch let stopped as ChangeoverStopped {
                    stoppedBy = stopped
                } catch {
                    failure = Self.describe(error)
                    untouched = error is PromotionNotRequested
                }
                if let reminding {
                    reminding.cancel()
                    if let sent = await reminding.value { record.facts[ReminderPlan.fact] = sent }
                }
                fault.strike(after: step)
                let elapsed = (clock.now - stepBegan).milliseconds
                if let stoppedBy {
                    _ = prepared.retries.takeCount()
                    record.timings.append(.init(step: step, milliseconds: elapsed, outcome: "stopped"))
                    let learned = record.facts.filter { factsBefore[$0.key] != $0.value }
                        .merging(["ms": String(format: "%.1f", elapsed)]) { a, _ in a }
                    log(step.rawValue, "stopped", stoppedBy.reason, learned)
                    return try park(stoppedBy, in: step)
                }
                let retried = prepared.retries.takeCount()
                record.timings.append(.init(step: step, milliseconds: elapsed, outcome: failure == nil ? "succeeded" : "failed",
                                            retries: retried > 0 ? retried : nil))
                events(.stepFinished(step, milliseconds: elapsed, error: failure))
                var learned = record.facts.filter { factsBefore[$0.key] != $0.value }
                    .merging(["ms": String(format: "%.1f", elapsed)]) { a, _ in a }
                if retried > 0 { learned["retries"] = String(retried) }
                log(step.rawValue, failure == nil ? "succeeded" : "failed", failure, learned)
                action = try record.machine.handle(failure.map { untouched ? .promotionNotRequested($0) : .stepFailed($0) } ?? .stepSucceeded)

            case .rollBack(let failedStep, let reason):
                log("rollback", "started", "\(failedStep) failed: \(reason)")
                try flush()
                try persist()
                fault.strike(before: .rollback)
                events(.stepStarted(.rollback))
                let stepBegan = clock.now
                _ = prepared.retries.takeCount()
                var failure: String?
                do {
                    try await prepared.engine.rollBack(&record.facts)
                } catch {
                    failure = Self.describe(error)
                }
                do {
                    // Clients held by the router are let go whatever happened to the engine.
                    try await prepared.retries.run("resume the router") { try await prepared.router.resume(database: database) }
                } catch {
                    failure = [failure, "router resume failed: \(Self.describe(error))"].compactMap { $0 }.joined(separator: "; ")
                }
                fault.strike(after: .rollback)
                let elapsed = (clock.now - stepBegan).milliseconds
                let retried = prepared.retries.takeCount()
                record.timings.append(.init(step: .rollback, milliseconds: elapsed, outcome: failure == nil ? "succeeded" : "failed",
                                            retries: retried > 0 ? retried : nil))
                events(.stepFinished(.rollback, milliseconds: elapsed, error: failure))
                var rollbackFacts = ["ms": String(format: "%.1f", elapsed), "old.restarted": record.facts["old.restarted"] ?? "false"]
                if retried > 0 { rollbackFacts["retries"] = String(retried) }
                log("rollback", failure == nil ? "succeeded" : "failed", failure, rollbackFacts)
                action = try record.machine.handle(failure.map { .stepFailed($0) } ?? .stepSucceeded)

            case .finish(let outcome):
                var facts: Facts = ["outcome": outcome.rawValue,
                                    "total.ms": String(format: "%.1f", earlier + (clock.now - began).milliseconds)]
                facts["final.position"] = record.facts["final.position"]
                facts["writePause.ms"] = record.facts["writePause.ms"]
                facts["new.primary"] = newPrimary?.description
                let message = outcome == .completed ? nil : "\(record.machine.failedStep.map { "\($0) failed: " } ?? "")\(record.machine.failure ?? "")"
                log("changeover", outcome == .completed ? "completed" : outcome.rawValue, message, facts)
                try flush()
                record.updatedAt = Date()
                try store.finish(record, engine: prepared.database.engine.rawValue)
                await notifyEnded(record, database: prepared.database, outcome: outcome, newPrimary: newPrimary)
                withExtendedLifetime(lock) {}
                return summary(outcome)
            }
        }
    }

    /// Retires the old primaries of finished changeovers whose grace period (`retireAfter`) is
    /// over, or all of them with `force`. Each is audited; a database another controller works
    /// on is skipped. Returns one line per changeover looked at.
    public func retire(database: String? = nil, now: Date = Date(), force: Bool = false) async throws -> [String] {
        var lines: [String] = []
        for var record in try store.changeovers() where record.machine.step == .done && record.facts["old.retired"] != "true" {
            guard database == nil || record.database == database else { continue }
            let due = record.facts["old.retireAt"].flatMap { ISO8601DateFormatter().date(from: $0) } ?? .distantPast
            guard force || due <= now else {
                lines.append("\(record.id): the old primary is kept until \(ISO8601DateFormatter().string(from: due))")
                continue
            }
            let lock: DatabaseLock
            do {
                lock = try store.lock(database: record.database, changeover: record.id, actor: actor)
            } catch let busy as DatabaseBusy {
                lines.append("\(record.id): skipped, \(busy.description)")
                continue
            }
            let prepared = try prepare(resuming: record)
            let old = record.facts["old.address"].map { " (\($0))" } ?? ""
            try journal.record([AuditEntry(changeover: record.id, database: record.database, step: "retire", outcome: "started",
                                           message: force ? "the old primary\(old), forced" : "the old primary\(old), its grace period over")])
            let outcome: AuditEntry
            do {
                let done = try await prepared.engine.retireOldPrimary(&record.facts)
                outcome = AuditEntry(changeover: record.id, database: record.database, step: "retire", outcome: "succeeded", message: done)
                lines.append("\(record.id): \(done)")
            } catch {
                outcome = AuditEntry(changeover: record.id, database: record.database, step: "retire", outcome: "failed",
                                     message: Self.describe(error))
                lines.append("\(record.id): not retired: \(Self.describe(error))")
            }
            record.updatedAt = Date()
            try journal.record(outcome) { try store.save(record) }
            withExtendedLifetime(lock) {}
        }
        return lines
    }

    static func newPrimary(from facts: Facts) -> Endpoint? {
        guard let host = facts["new.host"], let port = facts["new.port"].flatMap(Int.init), let address = facts["new.address"]
        else { return nil }
        return Endpoint(host: host, port: port, address: address)
    }

    /// One line for any error, never a conninfo.
    static func describe(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
