import CSystem
import ChangeoverCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The scheduler: runs the changeovers recorded for later (`changeover schedule`, the config's
/// `schedule:` section) in their databases' maintenance windows.
///
/// Every `daemon.tick` it looks at the scheduled changeovers: a follower is provisioned its lead
/// time before the first window with room for the switchover (or at once when a deadline
/// forces it), then the changeover waits in `await-window`, kept caught up, and switches inside
/// the window. At most `daemon.concurrency` changeovers run at once. SIGHUP reloads the config
/// (changeovers already running keep theirs). On graceful shutdown (SIGTERM) it starts nothing
/// more, asks every running changeover to stop — one before its switchover stops in a
/// consistent, resumable state (its record says so); one inside it finishes or rolls back — and
/// returns once all have. Changeovers it stopped itself are picked up again when it starts.
public final class ChangeoverDaemon: Service, Sendable {
    struct Running: Sendable {
        var id: String
        var database: String
        var stop: StopSignal
        var task: Task<Void, Never>
        var since: Date
    }

    struct State: Sendable {
        var config: FleetConfig
        var running: [String: Running] = [:]
        var shuttingDown = false
        var reloads = 0
        var reloadFailures = 0
        var lastReloadError: String?
        var outcomes: [String: Int] = [:]
        /// Measured data sizes per database, and when.
        var sizes: [String: (bytes: Int64?, at: Date)] = [:]
        /// Counts the measured sizes that differ from the one known before (a plan's input).
        var sizesGeneration = 0
        /// Databases whose primary is to be asked (queued or asked now), the queue, and whether
        /// a task works through it.
        var sizeProbes: Set<String> = []
        var sizeQueue = SizeQueue()
        var sizeProbing = false
        /// Audit records already written about a scheduled changeover's plan (deferrals).
        var announced: Set<String> = []
        /// What each scheduled changeover waits for, as of the last tick.
        var plans: [String: Waiting] = [:]
        /// Each scheduled changeover's plan as last made, with what it was made from.
        var planCache: [String: CachedPlan] = [:]
        /// Counts the configs loaded (a plan made under another is made again).
        var configGeneration = 0
        /// The fleet's last base backups as the last tick read them, and a count of their changes.
        var fleetBaseBackups: [DurationSample] = []
        var historyGeneration = 0
        /// When each scheduled changeover's target window opens (for metrics), a count of its
        /// changes, and its metrics as last written.
        var windows: [String: (database: String, start: Date)] = [:]
        var windowsGeneration = 0
        var renderedWindows: (generation: Int, text: MetricsText)?
        var lastTick: Date?
        /// Ticks finished since the start, and how long the last one took (its sleep not counted).
        var ticks = 0
        var lastTickMilliseconds: Double?
        /// The first tick's duration: it records the config's `schedule:` entries.
        var firstTickMilliseconds: Double?
        /// Every tick's duration, for `/metrics`.
        var tickDurations = Histogram(bounds: Histogram.tickBounds)
        /// The databases' states as of a store change version (read again when it changes).
        var states: (version: Int64, states: [String: DatabaseState])?
        /// The last look that found nothing to do, while what it was made from stands.
        var quietLook: QuietLook?
    }

    /// What a look at the scheduled changeovers was made from, besides the time: the store's
    /// change version (its changeovers and databases' states), the config, the fleet's base
    /// backups and the measured sizes.
    struct LookInputs: Equatable, Sendable {
        var version: Int64
        var config: Int
        var history: Int
        var sizes: Int
    }

    /// A look that recorded nothing, started nothing, had nothing waiting for a reason (a lock,
    /// a lease, a campaign, a slot) and no reminder to send: the next look from the same inputs,
    /// before any of its plans falls due or grows old, would find the same. With thousands of
    /// changeovers scheduled days ahead, most ticks are such ticks, and they skip the look.
    struct QuietLook: Sendable {
        var inputs: LookInputs
        var at: Date
        var holdsUntil: Date
    }

    /// What `changeover_build_info` says: the version, and the commit when the build knew it.
    public struct Build: Sendable {
        public var version: String
        public var commit: String?
        public init(version: String, commit: String?) {
            self.version = version
            self.commit = commit
        }
    }

    /// What a scheduled changeover waits for: a plan, described as of when it is read, or a reason.
    enum Waiting: Sendable {
        case reason(String)
        case plan(CachedPlan)

        func text(at now: Date) -> String {
            switch self {
            case .reason(let text): text
            case .plan(let made): made.plan.describe(gate: made.gate, at: now, zone: made.zone)
            }
        }
    }

    /// What a scheduled changeover's plan is made from, besides the time: its record, the
    /// config (windows, freezes, estimates), the database's size, the fleet's base backups and
    /// the end of the database's last changeover (its own history).
    struct PlanInputs: Equatable, Sendable {
        /// The record's stamp (its row's `updatedAt`).
        var record: Double
        var config: Int
        var bytes: Int64?
        var history: Int
        var lastEnded: Double?
    }

    /// A plan as made, shared by the cache and the status (one allocation for both).
    final class CachedPlan: Sendable {
        let inputs: PlanInputs
        let plan: StartPlan
        let gate: SwitchoverGate
        let zone: TimeZone
        let madeAt: Date
        /// The database whose changeover it plans (for the page's timeline).
        let database: String

        init(inputs: PlanInputs, plan: StartPlan, gate: SwitchoverGate, zone: TimeZone, madeAt: Date, database: String)
        {
            self.inputs = inputs
            self.database = database
            self.plan = plan
            self.gate = gate
            self.zone = zone
            self.madeAt = madeAt
        }

        /// Whether the plan holds at `now` for `inputs`: made from the same ones, not yet due
        /// (which window fits, and when to provision for it, only change with them), and not
        /// older than `planMaxAge`.
        func stands(for inputs: PlanInputs, at now: Date) -> Bool {
            self.inputs == inputs && !plan.isDue(at: now) && now >= madeAt
                && now.timeIntervalSince(madeAt) < ChangeoverDaemon.planMaxAge
        }
    }

    /// How long a plan that has not fallen due stands before it is made again anyway.
    static let planMaxAge: TimeInterval = 600

    public let configPath: String
    public let startedAt = Date()
    let environment: [String: String]
    let logger: Logger
    let actor: String
    let host: String
    let state: Mutex<State>
    /// The store's changeovers as of the last look (the tick's and `/status`'s).
    let records = ChangeoverIndex()
    /// Where the tick and the campaigns' tick run: their store calls block (see `StoreThreadExecutor`).
    let storeExecutor = StoreThreadExecutor(name: "changeover-store")
    /// Wakes the tick loop at shutdown.
    private let shutdown = StopSignal()
    /// How old a measured data size may get before it is asked again.
    static let sizeMaxAge: TimeInterval = 600

    public let build: Build

    public init(
        configPath: String, config: FleetConfig, environment: [String: String], logger: Logger,
        build: Build = Build(version: "unknown", commit: nil)
    ) {
        self.build = build
        self.configPath = configPath
        self.environment = environment
        self.logger = logger
        self.actor = "\(ChangeoverRunner.defaultActor()) (daemon)"
        self.host = ProcessInfo.processInfo.hostName
        self.state = Mutex(State(config: config))
    }

    public var config: FleetConfig { state.withLock { $0.config } }

    public func run() async throws {
        logger.info(
            "scheduler started",
            metadata: ["daemon.config": "\(configPath)", "daemon.concurrency": "\(settings.concurrency)"])
        await withTaskGroup(of: Void.self) { group in
            let hangups = await UnixSignalsSequence(trapping: .sighup)
            group.addTask { [self] in
                for await _ in hangups { reload() }
            }
            // Campaigns move on in a loop of their own: a gate that runs for minutes holds up
            // no changeover.
            group.addTask { [self] in
                while !shutdown.isRequested {
                    await withTaskExecutorPreference(storeExecutor) { await campaignDriver(config).tick() }
                    try? await shutdown.sleep(for: settings.tick)
                }
            }
            await withGracefulShutdownHandler {
                while !shutdown.isRequested {
                    await withTaskExecutorPreference(storeExecutor) { await tick() }
                    try? await shutdown.sleep(for: settings.tick)
                }
            } onGracefulShutdown: { [self] in
                beginShutdown()
            }
            await waitForRunning()
            group.cancelAll()
        }
        if let last = state.withLock({ $0.lastTick }) { beat(at: last, config: self.config, stopped: true) }
        logger.info("scheduler stopped")
    }

    var settings: DaemonSettings { config.daemon ?? DaemonSettings() }

    // MARK: reload and shutdown

    /// Reads the config file again (SIGHUP). A config that does not load is refused, logged and
    /// counted; the daemon keeps the one it has.
    public func reload() {
        do throws(ConfigError) {
            let config = try FleetConfig.load(path: configPath, environment: environment)
            // The changeovers under way, their locks, leases and audit log stay where they are:
            // a reload that moves them would orphan every changeover of the old store.
            let current = self.config
            var moved: [String] = []
            if config.stateDirectory != current.stateDirectory {
                moved.append("stateDirectory (\(current.stateDirectory) → \(config.stateDirectory))")
            }
            if config.auditLog != current.auditLog {
                moved.append("auditLog (\(current.auditLog) → \(config.auditLog))")
            }
            if config.store != current.store { moved.append("store") }
            if !moved.isEmpty {
                throw ConfigError(
                    "the reload moves \(moved.joined(separator: ", ")): restart the daemon to change where its state lives"
                )
            }
            state.withLock {
                $0.config = config
                $0.configGeneration += 1
                $0.quietLook = nil
                records.forget()
                $0.reloads += 1
                $0.lastReloadError = nil
            }
            logger.info("config reloaded", metadata: ["daemon.config": "\(configPath)"])
            for invalid in config.inventory.invalid {
                logger.warning(
                    "inventory database left out",
                    metadata: ["db.name": "\(invalid.name)", "error": "\(invalid.reason)"])
            }
        } catch {
            state.withLock {
                $0.reloadFailures += 1
                $0.lastReloadError = error.description
            }
            logger.error(
                "config reload refused; keeping the previous config", metadata: ["error": "\(error.description)"])
        }
        Self.returnFreeMemory()
    }

    /// Hands the heap's free pages back to the system. Loading a config of thousands of
    /// databases frees most of what it allocates, scattered between what it keeps, and glibc
    /// would keep those pages resident; called after every load.
    public static func returnFreeMemory() {
        _ = malloc_trim(0)
    }

    /// Starts nothing more and asks every running changeover to stop.
    public func beginShutdown() {
        let running = state.withLock { state -> [Running] in
            state.shuttingDown = true
            return Array(state.running.values)
        }
        logger.info(
            "shutting down: changeovers before their switchover stop resumable, a switchover that began finishes",
            metadata: ["daemon.running": "\(running.map(\.id).joined(separator: ","))"])
        for changeover in running { changeover.stop.request("the daemon is shutting down (SIGTERM)") }
        shutdown.request("shutdown")
    }

    private func waitForRunning() async {
        while true {
            let tasks = state.withLock { $0.running.values.map(\.task) }
            if tasks.isEmpty { return }
            for task in tasks { await task.value }
        }
    }

    // MARK: the tick

    func runner(_ config: FleetConfig) -> ChangeoverRunner {
        let logger = self.logger
        var runner = ChangeoverRunner(config: config, logger: logger, actor: actor, environment: environment)
        runner.isDaemon = true
        // What the tick itself sends: scheduled notices and reminders of changeovers not started yet.
        runner.events = { event in
            if case .notified(let event, let failure) = event {
                Self.log(notified: event, failure: failure, id: nil, logger: logger)
            }
        }
        return runner
    }

    func campaignDriver(_ config: FleetConfig) -> CampaignDriver {
        let logger = self.logger
        return CampaignDriver(runner: runner(config)) { message, metadata in
            let level: Logger.Level =
                metadata["error"] != nil ? .error : message == "campaign halted" ? .warning : .info
            logger.log(level: level, "\(message)", metadata: metadata.mapValues { "\($0)" })
        }
    }

    static func log(notified event: NotifyEvent, failure: String?, id: String?, logger: Logger) {
        var metadata: Logger.Metadata = ["notify.event": "\(event.rawValue)"]
        if let id { metadata["changeover.id"] = "\(id)" }
        if let failure {
            metadata["error"] = "\(failure)"
            logger.warning("notification not delivered", metadata: metadata)
        } else {
            logger.info("notification sent", metadata: metadata)
        }
    }

    /// One look at the scheduled changeovers: records the config's intents, plans each one, and
    /// starts those whose provisioning is due while there is a free slot.
    func tick() async {
        let began = ContinuousClock.now
        // The config with its generation, and the store's change version before anything is
        // read: a write after it leaves the next look a version that differs.
        let (config, configGeneration) = state.withLock { ($0.config, $0.configGeneration) }
        let runner = runner(config)
        let version = (try? runner.store.changeVersion()) ?? nil
        let now = runner.now()
        func readRecords() -> [ChangeoverIndex.Entry]? {
            do {
                return try self.records.look(runner.store)
            } catch {
                logger.error("cannot read the state store", metadata: ["error": "\(error)"])
                return nil
            }
        }
        guard var records = readRecords() else { return }
        // Read once for every plan of this look: the fleet's last base backups, the databases
        // changeovers moved, and when each database's last changeover ended (what its own
        // history changes with).
        let readBackups = (try? runner.store.durations(step: DurationSample.basebackup, limit: 10)) ?? []
        // Which databases have any durations, read once and only when a plan is made: the
        // history of the others (most, at first) is not read at all.
        lazy var withDurations = (try? runner.store.databasesWithDurations()) ?? nil
        let (fleetBaseBackups, historyGeneration, cache, inputs, quiet) = state.withLock { state in
            if state.fleetBaseBackups != readBackups {
                state.fleetBaseBackups = readBackups
                state.historyGeneration += 1
            }
            let inputs = version.map {
                LookInputs(
                    version: $0, config: configGeneration, history: state.historyGeneration,
                    sizes: state.sizesGeneration)
            }
            let quiet =
                state.running.isEmpty && !state.shuttingDown && inputs != nil
                && state.quietLook.map {
                    $0.inputs == inputs && now >= $0.at && now < $0.holdsUntil
                } == true
            return (state.fleetBaseBackups, state.historyGeneration, state.planCache, inputs, quiet)
        }
        if quiet {
            finishTick(began: began, at: now, config: config)
            return
        }
        var recorded = false
        var batch: [ScheduledChangeover] = []
        for entry in DaemonDecision.entriesToRecord(config.scheduled, records: records) {
            // A shared store: one at a time, each under its database's lease (another daemon may
            // record it). One store of its own: in batches.
            if runner.store.isShared {
                if await materialize(entry, runner: runner) { recorded = true }
            } else {
                batch.append(entry)
            }
        }
        if !batch.isEmpty, await materialize(batch: batch, records: records, runner: runner) { recorded = true }
        if recorded {
            guard let again = readRecords() else { return }
            records = again
        }
        let states: [String: DatabaseState]
        do {
            states = try databaseStates(runner.store)
        } catch {
            logger.error("cannot read the state store", metadata: ["error": "\(error)"])
            return
        }
        // Oldest first; only what can continue (an ended changeover has nothing to start).
        let continuing = records.reversed().compactMap(\.record)
        var snapshot = state.withLock { state in
            DaemonDecision.Snapshot(
                now: now, records: continuing, running: Set(state.running.keys),
                concurrency: (state.config.daemon ?? DaemonSettings()).concurrency, shuttingDown: state.shuttingDown,
                sharedStore: runner.store.isShared, actor: actor)
        }
        var windows = runningWindows(continuing, running: snapshot.running, states: states, at: now, runner: runner)
        // The leases of the changeovers the daemon might drive (another daemon's, a dead one's).
        if snapshot.sharedStore {
            for record in continuing where record.policy?.mode == .window && !record.machine.step.isTerminal {
                guard !snapshot.running.contains(record.id), snapshot.leases[record.database] == nil else { continue }
                snapshot.leases[record.database] = try? await runner.store.lease(of: record.database)
            }
        }
        // Whether this look is quiet (see `QuietLook`).
        var eventful = recorded || runner.store.isShared
        // The campaigns of scheduled changeovers: one paused, halted or aborted starts none.
        if continuing.contains(where: { $0.machine.step == .pending && $0.facts["campaign"] != nil }) {
            eventful = true  // a campaign paused or resumed changes no changeover
            for campaign in (try? runner.store.campaigns()) ?? [] { snapshot.campaigns[campaign.id] = campaign }
        }
        var lastEnded: [String: Double] = [:]
        for record in records where record.step.isTerminal {
            lastEnded[record.database] = max(lastEnded[record.database] ?? 0, record.stamp)
        }
        for entry in records.reversed() {
            guard let record = entry.record, DaemonDecision.needsPlan(record, in: snapshot) else { continue }
            guard let database = try? runner.currentDatabase(record.database, state: states[record.database]) else {
                continue  // decide says why
            }
            let bytes = dataSize(of: database)
            let planInputs = PlanInputs(
                record: entry.stamp, config: configGeneration, bytes: bytes,
                history: historyGeneration, lastEnded: lastEnded[record.database])
            let reminds = database.notify.sends(.reminder)
            if let cached = cache[record.id], cached.stands(for: planInputs, at: now) {
                snapshot.plans[record.id] = .init(made: cached, fresh: false, reminds: reminds)
                continue
            }
            let history = runner.estimateHistory(
                record.database, fleetBaseBackups: fleetBaseBackups, withDurations: withDurations)
            let made = CachedPlan(
                inputs: planInputs, plan: runner.startPlan(for: record, dataBytes: bytes, at: now, history: history),
                gate: runner.gate(for: record, database: database, history: history),
                zone: ChangeoverRunner.zone(of: database), madeAt: now, database: record.database)
            snapshot.plans[record.id] = .init(made: made, fresh: true, reminds: reminds)
        }
        for record in continuing where DaemonDecision.needsLock(record, in: snapshot) {
            snapshot.locks[record.database] = runner.store.lockHolder(database: record.database)
        }

        let decision = DaemonDecision.decide(snapshot)

        var plans = decision.waiting
        windows.merge(decision.windows) { _, decided in decided }
        eventful = eventful || decision.eventful
        let (planCache, holdsUntil) = (decision.plans, decision.holdsUntil)
        for action in decision.actions {
            switch action {
            case .announce(let record, let made):
                await announce(made, of: record, at: now, runner: runner)
            case .remind(let id):
                // It reads the record again: only where reminders are configured.
                await runner.sendDueReminder(id: id)
            case .launch(let record, let takingOver):
                // The claim is what makes the changeover this daemon's: of several daemons that
                // saw it due, one gets the lease; the others skip it.
                let sent = ContinuousClock.now
                let lease: Lease?
                do {
                    lease = try await runner.store.claim(
                        database: record.database, changeover: record.id, holder: actor, daemon: true)
                } catch {
                    logger.error(
                        "cannot claim a lease", metadata: ["changeover.id": "\(record.id)", "error": "\(error)"])
                    continue
                }
                guard let lease else {
                    plans[record.id] = .reason("another controller holds the lease on \(record.database)")
                    continue
                }
                if takingOver {
                    logger.warning(
                        "resuming a changeover whose daemon stopped renewing its lease",
                        metadata: [
                            "changeover.id": "\(record.id)", "changeover.step": "\(record.machine.step)",
                            "lease.token": "\(lease.token)",
                        ])
                }
                launch(record, config: config, lease: (lease, sent))
            }
        }
        let quietLook = eventful ? nil : inputs.map { QuietLook(inputs: $0, at: now, holdsUntil: holdsUntil) }
        state.withLock {
            $0.plans = plans
            $0.planCache = planCache
            if $0.windows.count != windows.count
                || !$0.windows.allSatisfy({
                    windows[$0.key]?.database == $0.value.database && windows[$0.key]?.start == $0.value.start
                })
            {
                $0.windowsGeneration += 1
            }
            $0.windows = windows
            $0.quietLook = quietLook
        }
        if recorded {
            // Recording thousands of entries allocated and freed much more than it keeps.
            Self.returnFreeMemory()
        }
        finishTick(began: began, at: now, config: config)
    }

    /// When the window each running changeover still bound for it waits for opens: the metric
    /// an operator watches while it waits there.
    private func runningWindows(
        _ records: [ChangeoverRecord], running: Set<String>, states: [String: DatabaseState], at now: Date,
        runner: ChangeoverRunner
    ) -> [String: (database: String, start: Date)] {
        var windows: [String: (database: String, start: Date)] = [:]
        for record in records where running.contains(record.id) && record.policy?.mode == .window {
            guard [.preflight, .provision, .catchUp, .awaitWindow].contains(record.machine.step),
                let database = try? runner.currentDatabase(record.database, state: states[record.database])
            else { continue }
            switch runner.gate(for: record, database: database).decide(at: now) {
            case .wait(let until, let opening, _): windows[record.id] = (record.database, opening?.start ?? until)
            case .open(let opening): windows[record.id] = (record.database, opening.start)
            case .forced, .never: break
            }
        }
        return windows
    }

    /// Counts the tick and leaves the heartbeat.
    private func finishTick(began: ContinuousClock.Instant, at now: Date, config: FleetConfig) {
        state.withLock {
            $0.lastTick = now
            $0.ticks += 1
            $0.lastTickMilliseconds = (ContinuousClock.now - began).seconds * 1000
            if $0.ticks == 1 { $0.firstTickMilliseconds = $0.lastTickMilliseconds }
            $0.tickDurations.observe((ContinuousClock.now - began).seconds)
        }
        beat(at: now, config: config)
    }

    /// Every database's state as the store holds it, read again only when its change version
    /// changed (a finished changeover writes one; thousands are decoded in a read).
    func databaseStates(_ store: StateStore) throws -> [String: DatabaseState] {
        let version = try store.changeVersion()
        if let version, let kept = state.withLock({ $0.states }), kept.version == version { return kept.states }
        let states = try store.databases()
        if let version { state.withLock { $0.states = (version, states) } }
        return states
    }

    /// Leaves `daemon.json` in the state directory for `status`; `stopped` once it stops.
    func beat(at now: Date, config: FleetConfig, stopped: Bool = false) {
        let beat = DaemonHeartbeat(
            pid: getpid(), host: host, actor: actor, tickSeconds: settings.tick.seconds, lastTick: now,
            stoppedAt: stopped ? Date() : nil)
        do {
            try beat.write(stateDirectory: config.stateDirectory)
        } catch {
            if state.withLock({ $0.announced.insert("heartbeat not written").inserted }) {
                logger.warning(
                    "cannot write the daemon's heartbeat; status will not see it", metadata: ["error": "\(error)"])
            }
        }
    }

    /// A changeover another daemon was driving when it stopped renewing its lease (it died, or
    /// lost the store): the lease expired without being released. Only with a shared store: on
    /// one host a crashed daemon's changeover waits for `resume`, as it always did.
    func isAbandoned(_ record: ChangeoverRecord, store: StateStore) async -> Bool {
        guard store.isShared, record.machine.canContinue, !record.machine.step.isTerminal,
            record.machine.step != .pending,
            record.policy?.mode == .window,
            let leased = try? await store.lease(of: record.database)
        else { return false }
        return leased.abandoned && leased.lease.daemon && leased.lease.changeover == record.id
    }

    /// The config's `schedule:` entry as a scheduled changeover, unless the database runs the
    /// image, has a changeover that has not ended, or its last changeover to the image ended
    /// aborted or failed (`changeover schedule` tries again). With a shared store it is recorded
    /// under the database's lease, so that of several daemons only one records it.
    /// Returns whether it recorded one.
    @discardableResult
    func materialize(_ entry: ScheduledChangeover, runner: ChangeoverRunner) async -> Bool {
        // Claimed only when there is something to record: a claim takes the lease row over,
        // and an abandoned changeover's row must stay as its dead daemon left it.
        guard let database = try? runner.currentDatabase(entry.database), database.image != entry.image,
            let records = try? runner.store.changeovers(database: entry.database),
            !records.contains(where: { $0.machine.canContinue })
        else { return false }
        var lease: Lease?
        if runner.store.isShared {
            guard
                let claimed = try? await runner.store.claim(
                    database: entry.database, changeover: "schedule", holder: actor, daemon: false)
            else { return false }
            lease = claimed
        }
        let recorded = await materializeHeld(entry, runner: runner)
        if let lease { try? await runner.store.release(lease) }
        return recorded
    }

    /// How many `schedule:` entries one audit sync and one store transaction record.
    static let scheduleBatchSize = 500

    /// The config's `schedule:` entries as `materialize` records them, for a store no other
    /// daemon shares: checked against the records the tick read (`records`, newest first) and
    /// the databases' states read once, then recorded in batches — one audit append and sync,
    /// then one store transaction per batch (`ChangeoverRunner.schedule(batch:)`).
    /// Returns whether it recorded any.
    func materialize(batch entries: [ScheduledChangeover], records: [ChangeoverIndex.Entry], runner: ChangeoverRunner)
        async -> Bool
    {
        let states: [String: DatabaseState]
        do {
            states = try databaseStates(runner.store)
        } catch {
            logger.error("cannot read the state store", metadata: ["error": "\(error)"])
            return false
        }
        // The newest changeover of each database to each image.
        var lastTo: [String: ChangeoverIndex.Entry] = [:]
        for record in records where lastTo["\(record.database)\u{0}\(record.toImage)"] == nil {
            lastTo["\(record.database)\u{0}\(record.toImage)"] = record
        }
        var requests: [ChangeoverRunner.ScheduleRequest] = []
        for entry in entries {
            guard let database = try? runner.currentDatabase(entry.database, state: states[entry.database]),
                database.image != entry.image
            else { continue }
            if let last = lastTo["\(entry.database)\u{0}\(entry.image)"], last.step != .done {
                if state.withLock({ $0.announced.insert("config-not-retried \(last.id)").inserted }) {
                    logger.warning(
                        "the config schedules a changeover whose last try did not complete; not retried",
                        metadata: [
                            "db.name": "\(entry.database)", "changeover.id": "\(last.id)",
                            "changeover.step": "\(last.step)",
                        ])
                }
                continue
            }
            requests.append(
                .init(
                    database: entry.database, image: entry.image,
                    policy: SwitchPolicy(mode: .window, deadline: entry.deadline)))
        }
        var recorded = 0
        var start = 0
        while start < requests.count {
            let chunk = Array(requests[start..<min(start + Self.scheduleBatchSize, requests.count)])
            start += chunk.count
            let results = runner.schedule(batch: chunk, source: "config schedule (daemon)")
            // Kept as saved: the next look decodes none of them again.
            self.records.remember(results.compactMap { try? $0.get() })
            for (request, result) in zip(chunk, results) {
                switch result {
                case .success(let record):
                    recorded += 1
                    logger.debug(
                        "changeover scheduled from the config",
                        metadata: ["changeover.id": "\(record.id)", "db.name": "\(record.database)"])
                    await runner.notifyScheduled(record)
                case .failure(let error):
                    let key = "config-refused \(request.database) \(error)"
                    if state.withLock({ $0.announced.insert(key).inserted }) {
                        logger.error(
                            "cannot schedule the config's changeover",
                            metadata: ["db.name": "\(request.database)", "error": "\(error)"])
                    }
                }
            }
            // A batch frees most of what it allocates (checks, audit lines, encoded rows) between
            // the records it keeps: handed back before the next, or each batch's pages stay
            // resident on top of the last one's.
            Self.returnFreeMemory()
        }
        if recorded > 0 {
            logger.info("changeovers scheduled from the config", metadata: ["daemon.scheduled": "\(recorded)"])
        }
        return recorded > 0
    }

    private func materializeHeld(_ entry: ScheduledChangeover, runner: ChangeoverRunner) async -> Bool {
        guard let database = try? runner.currentDatabase(entry.database), database.image != entry.image,
            let records = try? runner.store.changeovers(database: entry.database)
        else { return false }
        if records.contains(where: { $0.machine.canContinue }) { return false }
        if let last = records.first(where: { $0.toImage == entry.image }), last.machine.step != .done {
            let key = "config-not-retried \(last.id)"
            let fresh = state.withLock { $0.announced.insert(key).inserted }
            if fresh {
                logger.warning(
                    "the config schedules a changeover whose last try did not complete; not retried",
                    metadata: [
                        "db.name": "\(entry.database)", "changeover.id": "\(last.id)",
                        "changeover.step": "\(last.machine.step)",
                    ])
            }
            return false
        }
        do {
            let record = try runner.schedule(
                database: entry.database, image: entry.image,
                policy: SwitchPolicy(mode: .window, deadline: entry.deadline), source: "config schedule (daemon)")
            logger.info(
                "changeover scheduled from the config",
                metadata: ["changeover.id": "\(record.id)", "db.name": "\(entry.database)"])
            await runner.notifyScheduled(record)
            return true
        } catch {
            let key = "config-refused \(entry.database) \(error)"
            if state.withLock({ $0.announced.insert(key).inserted }) {
                logger.error(
                    "cannot schedule the config's changeover",
                    metadata: ["db.name": "\(entry.database)", "error": "\(error)"])
            }
            return false
        }
    }

    /// The audit records a plan made now calls for, once each: the changeover was moved past
    /// windows too short for it, or no window will ever fit.
    private func announce(_ made: CachedPlan, of record: ChangeoverRecord, at now: Date, runner: ChangeoverRunner) async
    {
        let (plan, gate, zone) = (made.plan, made.gate, made.zone)
        // Written only when there is something to announce: thousands of plans are made at once.
        var text: String { plan.describe(gate: gate, at: now, zone: zone) }
        if case .wait(let until, let opening, let skipped) = plan.decision, !skipped.isEmpty {
            let moved =
                skipped.map { gate.skippedText($0, now: now, zone: zone) }.joined(separator: "; ")
                + (opening.map {
                    ": moved to the window \(ScheduleText.local($0.start, zone)) (\(ScheduleText.iso($0.start)))"
                }
                    ?? ": no window with room before the deadline \(ScheduleText.iso(until))")
            if announce(
                record, "moved", text, key: "moved \(skipped.map(\.start)) \(opening?.start ?? until)", runner: runner)
            {
                await remember(moved, of: record.id, runner: runner)
            }
        }
        if case .never = plan.decision { announce(record, "blocked", text, key: "never", runner: runner) }
    }

    /// Keeps why a scheduled changeover was moved in its record (`schedule.moved`), for status;
    /// skipped if a controller holds the database.
    /// With a shared store, under the database's lease (fenced): another daemon may be starting it.
    private func remember(_ moved: String, of id: String, runner: ChangeoverRunner) async {
        let store = runner.store
        guard let pending = try? store.changeover(id), pending.machine.step == .pending,
            let lock = try? store.lock(database: pending.database, changeover: id, actor: actor)
        else { return }
        defer { withExtendedLifetime(lock) {} }
        var lease: Lease?
        if store.isShared {
            guard
                let claimed = try? await store.claim(
                    database: pending.database, changeover: id, holder: actor, daemon: false)
            else { return }
            lease = claimed
        }
        // Read again under the lease: the copy read before may be stale.
        if var record = try? store.changeover(id), record.machine.step == .pending {
            record.facts["schedule.moved"] = moved
            record.updatedAt = Date()
            if let lease { try? store.save(record, lease: lease) } else { try? store.save(record) }
        }
        if let lease { try? await store.release(lease) }
    }

    /// An audit record about a scheduled changeover's plan, once per distinct `key`. Returns
    /// whether it was new and written: what it records (`remember`) is saved only then.
    @discardableResult
    private func announce(
        _ record: ChangeoverRecord, _ outcome: String, _ message: String, key: String, runner: ChangeoverRunner
    ) -> Bool {
        let fresh = state.withLock { $0.announced.insert("\(record.id) \(key)").inserted }
        guard fresh else { return false }
        do {
            try runner.journal.record([
                AuditEntry(
                    changeover: record.id, database: record.database, step: "schedule", outcome: outcome,
                    message: message)
            ])
        } catch {
            logger.error("cannot write the audit log", metadata: ["error": "\(error)"])
            _ = state.withLock { $0.announced.remove("\(record.id) \(key)") }
            return false
        }
        logger.info(
            "scheduled changeover re-planned",
            metadata: ["changeover.id": "\(record.id)", "schedule.plan": "\(message)"])
        return true
    }

    /// The database's size as its primary last reported it (nil: not known yet). The primary is
    /// asked again when the answer is older than 10 minutes, in the background and at most
    /// `sizeProbeWidth` primaries at once: a tick never waits for a primary, and the plan is
    /// made again when the answer changes it (the size is one of its inputs).
    private func dataSize(of database: DatabaseConfig) -> Int64? {
        let now = Date()
        let (cached, start) = state.withLock { state -> ((bytes: Int64?, at: Date)?, Bool) in
            let cached = state.sizes[database.name]
            guard cached.map({ now.timeIntervalSince($0.at) >= Self.sizeMaxAge }) ?? true,
                state.sizeProbes.insert(database.name).inserted
            else { return (cached, false) }
            state.sizeQueue.append(database)
            let start = !state.sizeProbing
            state.sizeProbing = true
            return (cached, start)
        }
        if start { Task { await probeSizes() } }
        return cached?.bytes
    }

    /// How many primaries are asked their size at once.
    static let sizeProbeWidth = 4
    /// How long after one primary is asked the next may be: at most 100 a second. A fleet's
    /// primaries are all queued at the first tick (and again every `sizeMaxAge`); asked as fast
    /// as they answer, connecting to 10,000 of them took a core away from the tick and the
    /// status for minutes. 10,000 take 100 s, well inside `sizeMaxAge`.
    static let sizeProbeSpacing = Duration.milliseconds(10)

    /// The primaries waiting to be asked their size, first come first asked. All of a fleet's
    /// are queued at once: taken from the front by an index (an array's `removeFirst` moves
    /// every database behind it, ten thousand times over), the taken ones let go in bulk.
    struct SizeQueue: Sendable {
        private var waiting: [DatabaseConfig] = []
        private var head = 0

        var isEmpty: Bool { head == waiting.count }

        mutating func append(_ database: DatabaseConfig) { waiting.append(database) }

        mutating func next() -> DatabaseConfig? {
            guard head < waiting.count else {
                waiting = []
                head = 0
                return nil
            }
            let database = waiting[head]
            head += 1
            if head >= 1024, head * 2 >= waiting.count {
                waiting.removeFirst(head)
                head = 0
            }
            return database
        }
    }

    /// Asks the queued primaries their size, `sizeProbeWidth` at a time, until the queue is empty.
    private func probeSizes() async {
        let environment = self.environment
        await withTaskGroup(of: (String, Int64?).self) { group in
            var inFlight = 0
            while true {
                let next = state.withLock { state -> DatabaseConfig? in
                    guard inFlight < Self.sizeProbeWidth else { return nil }
                    return state.sizeQueue.next()
                }
                if let next {
                    inFlight += 1
                    group.addTask { (next.name, await DataSizeProbe.bytes(of: next, environment: environment)) }
                    try? await Task.sleep(for: Self.sizeProbeSpacing)
                    continue
                }
                guard inFlight > 0, let (name, bytes) = await group.next() else {
                    // Nothing in flight: done unless more was queued meanwhile.
                    let done = state.withLock { state -> Bool in
                        if state.sizeQueue.isEmpty { state.sizeProbing = false }
                        return state.sizeQueue.isEmpty
                    }
                    if done { return }
                    continue
                }
                inFlight -= 1
                state.withLock {
                    // A first answer of "not known" changes no plan: it was made with none.
                    if ($0.sizes[name]?.bytes ?? nil) != bytes { $0.sizesGeneration += 1 }
                    $0.sizes[name] = (bytes, Date())
                    $0.sizeProbes.remove(name)
                }
            }
        }
    }

    /// Drives `record` in a task of its own under `lease` (start, resume what a daemon stopped,
    /// or resume what a dead daemon abandoned).
    private func launch(_ record: ChangeoverRecord, config: FleetConfig, lease: (Lease, ContinuousClock.Instant)) {
        var databaseLogger = self.logger
        // Every line of the changeover names its database.
        databaseLogger[metadataKey: "db.name"] = "\(record.database)"
        let logger = databaseLogger
        var runner = runner(config)
        runner.claimed = (lease.0, lease.1)
        runner.events = { event in
            switch event {
            case .stepStarted(let step):
                logger.info("step started", metadata: ["changeover.id": "\(record.id)", "changeover.step": "\(step)"])
            case .stepFinished(let step, let ms, let error):
                var metadata: Logger.Metadata = [
                    "changeover.id": "\(record.id)", "changeover.step": "\(step)",
                    "step.ms": "\(String(format: "%.1f", ms))",
                ]
                if let error { metadata["error"] = "\(error)" }
                logger.info(error == nil ? "step succeeded" : "step failed", metadata: metadata)
            case .stopped(let step, let reason):
                logger.info(
                    "changeover stopped",
                    metadata: ["changeover.id": "\(record.id)", "changeover.step": "\(step)", "reason": "\(reason)"])
            case .retry(let note):
                logger.warning(
                    "retrying a remote call", metadata: ["changeover.id": "\(record.id)", "retry": "\(note)"])
            case .progress(let text):
                logger.debug("progress", metadata: ["changeover.id": "\(record.id)", "progress": "\(text)"])
            case .notified(let event, let failure):
                Self.log(notified: event, failure: failure, id: record.id, logger: logger)
            case .started, .checks:
                break
            }
        }
        let stop = StopSignal()
        runner.stop = stop
        let configured = runner
        let store = runner.store
        state.withLock { current in
            guard !current.shuttingDown else {
                Task { try? await store.release(lease.0) }
                return
            }
            let task = Task { [self] in
                var outcome: String
                do {
                    let summary = try await configured.start(id: record.id)
                    outcome = summary.outcome.rawValue
                    logger.info(
                        "changeover ended",
                        metadata: ["changeover.id": "\(record.id)", "changeover.outcome": "\(outcome)"])
                } catch {
                    outcome = "error"
                    logger.error(
                        "changeover could not run", metadata: ["changeover.id": "\(record.id)", "error": "\(error)"])
                }
                state.withLock {
                    $0.running[record.id] = nil
                    $0.outcomes[outcome, default: 0] += 1
                }
            }
            current.running[record.id] = Running(
                id: record.id, database: record.database, stop: stop, task: task, since: Date())
            logger.info(
                "changeover starting", metadata: ["changeover.id": "\(record.id)", "db.name": "\(record.database)"])
        }
    }
}
