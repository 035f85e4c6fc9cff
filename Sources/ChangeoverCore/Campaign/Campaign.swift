import Foundation

/// A campaign: one image rolled across the fleet in waves, recorded by `campaign start` and
/// driven by the daemon (`CampaignDriver`).
///
/// Its members are fixed when it starts (the plan's waves). A wave's changeovers are scheduled
/// when the wave begins, each to switch in its database's own next fitting window; once every
/// member of a wave has ended, the gate command runs, and only when it passes does the next
/// wave begin. A failed gate, or more failed changeovers than `maxFailures`, halts the campaign
/// until an operator resumes it.
///
/// Two writers, two parts: the driver writes the progress (everything but `control`), the
/// operator's commands write only `control` (pause, resume, abort), so neither overwrites the
/// other's latest word.
public struct Campaign: Sendable, Codable, Equatable {
    public enum State: String, Sendable, Codable {
        case running, halted, aborted, completed
    }

    public enum MemberOutcome: String, Sendable, Codable {
        /// Its changeover is done: it runs the campaign's image.
        case done
        /// Its changeover ended without switching (rolled back, or failed after the promotion).
        case failed
        /// Left alone: it was on the image already when its wave came, or it left the inventory.
        case skipped
    }

    public struct Member: Sendable, Codable, Equatable {
        public var database: String
        public var host: String
        /// The image it changes over to.
        public var image: String
        /// Its changeover, once its wave scheduled it.
        public var changeover: String?
        /// Set once its changeover ended (or it was skipped).
        public var outcome: MemberOutcome?
        /// The step it ended in, why it was skipped, or what keeps it from being scheduled.
        public var note: String?
        /// The window the plan expected it to switch in when the campaign started.
        public var expectedStart: Date?

        public init(database: String, host: String, image: String, expectedStart: Date?) {
            self.database = database
            self.host = host
            self.image = image
            self.expectedStart = expectedStart
        }

        /// Scheduled and not ended.
        public var inFlight: Bool { changeover != nil && outcome == nil }
    }

    public struct GateRun: Sendable, Codable, Equatable {
        public var startedAt: Date
        public var finishedAt: Date
        /// The command's exit status; nil when it could not run or did not finish in time.
        public var status: Int32?
        /// The end of what it printed (stdout then stderr), passwords masked.
        public var output: String
        public var passed: Bool { status == 0 }

        public init(startedAt: Date, finishedAt: Date, status: Int32?, output: String) {
            self.startedAt = startedAt
            self.finishedAt = finishedAt
            self.status = status
            self.output = output
        }
    }

    public struct Wave: Sendable, Codable, Equatable {
        public var wave: CampaignWave
        public var members: [Member]
        public var startedAt: Date?
        /// When its last member ended.
        public var finishedAt: Date?
        /// Every run of its gate, oldest first (a resume runs a failed gate again).
        public var gates: [GateRun] = []

        public init(wave: CampaignWave, members: [Member]) {
            self.wave = wave
            self.members = members
        }

        public var passedGate: Bool { gates.last?.passed == true }
        public var ended: Bool { members.allSatisfy { $0.outcome != nil } }
    }

    public struct Halt: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case gate, failures }
        public var kind: Kind
        public var reason: String
        public var at: Date
        /// The operator's word when it halted: a newer `run` resumes it.
        public var under: Control
    }

    /// The operator's latest word.
    public struct Control: Sendable, Codable, Equatable {
        public enum Command: String, Sendable, Codable { case run, pause, abort }
        public var command: Command
        public var at: Date
        public var by: String
        /// Tells two words apart whatever the clock says (times are kept to the second).
        public var nonce: String

        public init(command: Command, at: Date, by: String) {
            self.command = command
            self.at = at
            self.by = by
            nonce = UUID().uuidString
        }
    }

    public var id: String
    /// What it changes over to, as given: one image, or old=new pairs (`CampaignImages`).
    public var image: String
    public var from: String?
    public var createdAt: Date
    public var createdBy: String
    /// Run with `/bin/sh -c` after each wave; nil: no gate.
    public var gate: String?
    public var gateTimeoutSeconds: Double
    /// Every changeover switches by then, in a window or forced.
    public var deadline: Date?
    /// At most this many of its changeovers scheduled and not ended at once; nil: no limit.
    public var maxParallel: Int?
    /// The same, per host of the primaries.
    public var maxParallelPerHost: Int?
    /// More failed changeovers than this (since the last resume) halt the campaign.
    public var maxFailures: Int
    public var waves: [Wave]
    /// The index of the wave under way (== waves.count once all passed).
    public var current: Int = 0
    public var state: State = .running
    public var halt: Halt?
    /// Failures a resume acknowledged: the threshold counts only those after them.
    public var forgivenFailures: Int = 0
    public var finishedAt: Date?
    /// What the plan left out when it started, and why.
    public var leftOut: [CampaignPlan.Skipped] = []
    public var updatedAt: Date
    /// Written only by the operator's commands; see the type's comment.
    public var control: Control

    public init(
        id: String, image: String, from: String?, createdAt: Date, createdBy: String, gate: String?,
        gateTimeout: Duration, deadline: Date?, maxParallel: Int?, maxParallelPerHost: Int?, maxFailures: Int,
        waves: [Wave], leftOut: [CampaignPlan.Skipped]
    ) {
        self.id = id
        self.image = image
        self.from = from
        self.createdAt = createdAt
        self.createdBy = createdBy
        self.gate = gate
        self.gateTimeoutSeconds = gateTimeout.seconds
        self.deadline = deadline
        self.maxParallel = maxParallel
        self.maxParallelPerHost = maxParallelPerHost
        self.maxFailures = maxFailures
        self.waves = waves
        self.leftOut = leftOut
        self.updatedAt = createdAt
        self.control = Control(command: .run, at: createdAt, by: createdBy)
    }

    /// A campaign from its plan: each wave's members in the order they are expected to switch.
    public init(
        id: String, plan: CampaignPlan, image: String, from: String?, at: Date, by: String, gate: String?,
        gateTimeout: Duration, deadline: Date?, maxParallel: Int?, maxParallelPerHost: Int?, maxFailures: Int
    ) {
        self.init(
            id: id, image: image, from: from, createdAt: at, createdBy: by, gate: gate, gateTimeout: gateTimeout,
            deadline: deadline, maxParallel: maxParallel, maxParallelPerHost: maxParallelPerHost,
            maxFailures: maxFailures,
            waves: plan.waves.map { wave in
                Wave(
                    wave: wave.wave,
                    members: wave.members.map {
                        Member(
                            database: $0.database, host: $0.host, image: $0.image,
                            expectedStart: $0.opening?.start ?? $0.forcedAt)
                    })
            },
            leftOut: plan.skipped)
    }

    public static func newID(at date: Date) -> String {
        "campaign-\(ChangeoverRunner.idStamp(date))-\(UUID().uuidString.prefix(4).lowercased())"
    }

    public var members: [Member] { waves.flatMap(\.members) }
    /// Changeovers that ended without switching, all told.
    public var failures: Int { members.filter { $0.outcome == .failed }.count }
    /// Whether it will do nothing more.
    public var isFinished: Bool { state == .completed || state == .aborted }

    /// What an operator should read: the driver's state, with the operator's pause or abort not
    /// yet acted on, and a halt already resumed, shown as they will be.
    public var effectiveState: String {
        if isFinished { return state.rawValue }
        switch control.command {
        case .abort: return "aborting"
        case .pause: return "paused"
        case .run: return halt.map { resumed(from: $0) ? "resuming" : "halted" } ?? "running"
        }
    }

    /// Whether a changeover it scheduled may start now: not while it is paused, halted or
    /// aborted (changeovers that started go on either way).
    public var letsChangeoversStart: Bool {
        guard !isFinished, control.command == .run else { return false }
        return halt.map { resumed(from: $0) } ?? true
    }

    /// Whether the operator said `run` since `halt`.
    public func resumed(from halt: Halt) -> Bool {
        control.command == .run && control != halt.under
    }

    mutating func halt(_ kind: Halt.Kind, _ reason: String, at: Date) {
        halt = Halt(kind: kind, reason: reason, at: at, under: control)
        state = .halted
    }

    // The control is kept apart from the rest (see the type's comment).
    enum CodingKeys: String, CodingKey {
        case id, image, from, createdAt, createdBy, gate, gateTimeoutSeconds, deadline, maxParallel, maxParallelPerHost,
            maxFailures, waves, current, state, halt, forgivenFailures, finishedAt, leftOut, updatedAt, control
    }
}
