import ArgumentParser
import ChangeoverCore
import Foundation

extension CampaignCommand {
    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "start",
            abstract: "Record a campaign: its waves as `plan` prints them, moved on by the daemon.")

        @OptionGroup var fleet: FleetOptions
        @OptionGroup var planning: CampaignPlanning
        @Option(help: "A shell command run after each wave; the next wave begins only if it exits 0.") var gate: String?
        @Option(help: "How long the gate may run before it is killed and counts as failed.") var gateTimeout = "30m"
        @Option(help: "At most this many of its changeovers scheduled and not ended at once.") var maxParallel: Int?
        @Option(help: "The same, per host of the primaries.") var maxParallelPerHost: Int?
        @Option(help: "Halt once more than this many changeovers failed (resume acknowledges them).") var maxFailures =
            0
        @Flag(help: "Print the campaign as JSON.") var json = false

        func run() async throws {
            try await reporting {
                let timeout: Duration
                do {
                    timeout = try ConfigValue.duration(gateTimeout, at: "--gate-timeout")
                } catch {
                    throw Failure(.badInput, String(describing: error))
                }
                guard timeout > .zero else { throw Failure(.badInput, "--gate-timeout must be more than 0s") }
                if let gate, gate.trimmingCharacters(in: .whitespaces).isEmpty {
                    throw Failure(.badInput, "--gate is empty: give a command, or leave --gate out for no gate")
                }
                for (name, value) in [("--max-parallel", maxParallel), ("--max-parallel-per-host", maxParallelPerHost)]
                {
                    if let value, value < 1 { throw Failure(.badInput, "\(name) must be at least 1, not \(value)") }
                }
                guard maxFailures >= 0 else {
                    throw Failure(.badInput, "--max-failures must be 0 or more, not \(maxFailures)")
                }

                let config = try fleet.load()
                let now = Date()
                let plan = try planning.plan(config: config, at: now)
                guard plan.memberCount > 0 else {
                    throw Failure(
                        .badInput,
                        "nothing to change over to \(planning.image): \(plan.skipped.count) database(s) left out"
                            + (plan.skipped.first.map { " (\($0.database): \($0.reason)…)" } ?? ""))
                }
                let stuck = plan.waves.flatMap(\.members).filter { $0.opening == nil && $0.forcedAt == nil }.map(
                    \.database)
                guard stuck.isEmpty else {
                    throw Failure(
                        .badInput,
                        "no maintenance window fits within a year for \(Self.list(stuck)): fix their windows or give --deadline"
                    )
                }
                let store = StateStore(config: config)
                let planned = Set(plan.waves.flatMap(\.members).map(\.database))
                for other in try store.campaigns() where !other.isFinished {
                    let shared = other.members.filter { $0.outcome == nil && planned.contains($0.database) }.map(
                        \.database)
                    guard shared.isEmpty else {
                        throw Failure(
                            .badInput,
                            "campaign \(other.id) (to \(other.image), \(other.effectiveState)) already has \(Self.list(shared)); "
                                + "let it finish or abort it first")
                    }
                }
                let actor = ChangeoverRunner.defaultActor()
                let campaign = Campaign(
                    id: Campaign.newID(at: now), plan: plan, image: planning.image, from: planning.from, at: now,
                    by: actor,
                    gate: gate, gateTimeout: timeout, deadline: try planning.deadlineDate, maxParallel: maxParallel,
                    maxParallelPerHost: maxParallelPerHost, maxFailures: maxFailures)
                try CampaignOperations(store: store, journal: Journal(auditLog: config.auditLog, actor: actor))
                    .start(campaign, waves: planning.waves)
                if json { return try Output.json(CampaignStatus(campaign, store: store, config: config, now: now)) }
                Output.line(
                    "campaign \(campaign.id) started: \(plan.memberCount) database(s) to \(planning.image) in \(plan.waves.count) wave(s), "
                        + "\(plan.skipped.count) left out; the daemon (`changeover daemon`) moves it on")
                CampaignPlanText.print(plan)
            }
        }

        static func list(_ names: [String]) -> String {
            names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
        }
    }
}
