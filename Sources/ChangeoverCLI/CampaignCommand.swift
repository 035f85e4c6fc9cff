import ArgumentParser
import ChangeoverCore
import Foundation

struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Roll an image across the fleet in waves.",
        discussion: """
            `start` records a campaign; the daemon (`changeover daemon`) moves it on: each wave's changeovers \
            are scheduled when the wave begins, each switching in its database's own next fitting window; \
            after a wave the gate runs, and the next wave begins only if it passed.
            """,
        subcommands: [Plan.self, Start.self, Status.self, Pause.self, Resume.self, Abort.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Print the waves a campaign would run: which databases, in which windows, and what it leaves out. Touches nothing.")

        @OptionGroup var fleet: FleetOptions
        @OptionGroup var planning: CampaignPlanning
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let config = try fleet.load()
                let plan = try planning.plan(config: config, at: Date())
                if json { return try Output.json(CampaignPlanText(plan)) }
                Output.line("campaign to \(planning.image)\(planning.from.map { " from \($0)" } ?? ""): \(plan.memberCount) database(s) in \(plan.waves.count) wave(s), \(plan.skipped.count) left out")
                CampaignPlanText.print(plan)
            }
        }
    }
}

/// What `campaign plan` and `campaign start` take to plan.
struct CampaignPlanning: ParsableArguments {
    @Option(help: "The image to roll out (a name from the config's images), or each old image's successor: pg15=pg15-patched,redis7=redis7-patched.")
    var image: String
    @Option(help: "Only databases on this image.") var from: String?
    @Option(help: "The waves in order, e.g. staging,canary:5%,production (tiers are the databases' tier label).")
    var waves: String
    @Option(help: "Switch every database by then, in a window or forced at it (ISO 8601, or +2h).") var deadline: String?

    var deadlineDate: Date? {
        get throws { try deadline.map(Deadline.parse) }
    }

    /// The plan at `now`, or a one-line bad-input failure.
    func plan(config: FleetConfig, at now: Date) throws -> CampaignPlan {
        let waveList: [CampaignWave]
        do {
            waveList = try CampaignWave.parse(waves)
        } catch {
            throw Failure(.badInput, String(describing: error))
        }
        let deadline: Date?
        do {
            deadline = try deadlineDate
        } catch {
            throw Failure(.badInput, String(describing: error))
        }
        do {
            for name in try CampaignImages.parse(image, from: from).names { _ = try config.image(name) }
        } catch let error as CampaignError {
            throw Failure(.badInput, String(describing: error))
        }
        do {
            return try CampaignPlanner.plan(
                entries: try CampaignEntry.inventory(config: config, store: StateStore(config: config)),
                waves: waveList, image: image, from: from, now: now,
                margin: config.scheduling.margin, deadline: deadline, engineOf: config.engine(ofImage:))
        } catch let error as CampaignError {
            throw Failure(.badInput, String(describing: error))
        }
    }
}

/// A campaign plan as JSON.
struct CampaignPlanText: Encodable {
    struct Member: Encodable {
        var database: String
        var tier: String?
        var host: String
        var windowStart: Date?
        var windowEnd: Date?
        var forcedAt: Date?
        var neededSeconds: Double
    }
    struct Wave: Encodable {
        var wave: String
        var notBefore: Date
        var expectedEnd: Date?
        var members: [Member]
    }
    struct Skipped: Encodable {
        var database: String
        var reason: String
    }
    var waves: [Wave]
    var skipped: [Skipped]

    init(_ plan: CampaignPlan) {
        waves = plan.waves.map { wave in
            Wave(wave: wave.wave.text, notBefore: wave.notBefore, expectedEnd: wave.expectedEnd, members: wave.members.map {
                Member(database: $0.database, tier: $0.tier, host: $0.host, windowStart: $0.opening?.start,
                       windowEnd: $0.opening?.end, forcedAt: $0.forcedAt, neededSeconds: $0.needed.seconds)
            })
        }
        skipped = plan.skipped.map { Skipped(database: $0.database, reason: $0.reason) }
    }
}

extension CampaignPlanText {
    /// The plan as lines, one wave and then its members.
    static func print(_ plan: CampaignPlan) {
        for wave in plan.waves {
            let end = wave.expectedEnd.map { "expected done \(ScheduleText.iso($0))" } ?? "a member has no fitting window"
            Output.line("wave \(wave.wave.text): \(wave.members.count) database(s), from \(ScheduleText.iso(wave.notBefore)), \(end)")
            for member in wave.members {
                let when = member.opening.map { "window \(ScheduleText.iso($0.start)) → \(ScheduleText.iso($0.end))" }
                    ?? member.forcedAt.map { "no window fits: forced at the deadline \(ScheduleText.iso($0))" }
                    ?? "no window fits within a year"
                Output.line("  \(member.database) (\(member.tier ?? "-"), \(member.host)): \(when)")
            }
        }
        for skipped in plan.skipped { Output.line("left out: \(skipped.database): \(skipped.reason)") }
    }
}
