import Foundation
import Logging

/// Starts, resumes and aborts changeovers: resolves each into its components (from the config,
/// or the ones a test gives), holds the database's lock, and hands the changeover to the
/// executor, which drives `ChangeoverMachine` under the database's lease with every step
/// authorised by the journal before it acts.
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
    /// Makes each changeover's provisioner, engine and router: from the config, unless a test
    /// gives its own.
    public var components: ChangeoverComponents.Factory = { try ChangeoverComponents.fromConfig($0) }
    /// Called at every step boundary; a test installs one to kill or stall the controller there.
    public var faults = FaultHook.none

    public init(
        config: FleetConfig, logger: Logger = Logger(label: "changeover"),
        actor: String = ChangeoverRunner.defaultActor(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }
    ) {
        self.config = config
        self.logger = logger
        self.actor = actor
        self.environment = environment
        self.events = events
    }

    public static func defaultActor() -> String {
        let user =
            ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"]
            ?? "uid \(getuid())"
        return "\(user)@\(ProcessInfo.processInfo.hostName) pid \(getpid())"
    }

    public var store: StateStore { StateStore(config: config, environment: environment) }

    /// Audits changes of state outside a changeover's steps before they are made.
    public var journal: Journal { Journal(auditLog: config.auditLog, actor: actor) }

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
        return
            "\(utc.tm_year + 1900)\(two(utc.tm_mon + 1))\(two(utc.tm_mday))-\(two(utc.tm_hour))\(two(utc.tm_min))\(two(utc.tm_sec))"
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
        if let container = prepared.oldContainer { record.facts.oldContainer = container }
        let first = try record.machine.handle(.begin)
        return try await ChangeoverExecutor.drive(
            self, record, prepared, lock: lock, first: first,
            opening: (
                "started", "\(prepared.fromImage.name) → \(prepared.toImage.name)",
                [
                    "from": prepared.fromImage.name, "to": prepared.toImage.name,
                    "primary": prepared.oldEndpoint.description,
                ]
                .merging(policy.auditFacts) { a, _ in a }
            ))
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
        var facts: [String: String] = ["step": interrupted.rawValue, "follower.promoted": String(promoted)]
        if let policy {
            record.policy = policy
            facts.merge(policy.auditFacts) { a, _ in a }
        }
        let why =
            record.stopped.map { "\($0.kind == .prepared ? "prepared" : "stopped") in \(interrupted)" }
            ?? "interrupted in \(interrupted)"
        return try await ChangeoverExecutor.drive(
            self, record, prepared, lock: lock, first: first,
            opening: (
                policy != nil ? "switch-requested" : "resumed", why, facts
            ))
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
            throw ChangeoverRefused(
                description:
                    "changeover \(id) is past the point of no return (the follower was promoted); run resume to finish it"
            )
        }
        let first: ChangeoverMachine.Action
        do {
            first = try record.machine.handle(.abortRequested(reason))
        } catch {
            throw ChangeoverRefused(
                description: "changeover \(id) is past the point of no return (\(step)); run resume to finish it")
        }
        return try await ChangeoverExecutor.drive(
            self, record, prepared, lock: lock, first: first,
            opening: (
                "abort-requested", reason, ["step": step.rawValue]
            ))
    }

    private func storedChangeover(_ id: String) throws -> ChangeoverRecord {
        guard let record = try store.changeover(id) else {
            throw ConfigError("no changeover \(id) in \(store.directory)")
        }
        return record
    }

    static func newPrimary(from facts: Facts) -> Endpoint? {
        guard let host = facts.newHost, let port = facts.newPort, let address = facts.newAddress else { return nil }
        return Endpoint(host: host, port: port, address: address)
    }

    /// One line for any error, never a conninfo.
    static func describe(_ error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
