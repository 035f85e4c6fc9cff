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
            abstract:
                "Print the waves a campaign would run: which databases, in which windows, and what it leaves out. Touches nothing."
        )

        @OptionGroup var fleet: FleetOptions
        @OptionGroup var planning: CampaignPlanning
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let config = try fleet.load()
                let plan = try planning.plan(config: config, at: Date())
                if json { return try Output.json(CampaignPlanText(plan)) }
                Output.line(
                    "campaign to \(planning.image)\(planning.from.map { " from \($0)" } ?? ""): \(plan.memberCount) database(s) in \(plan.waves.count) wave(s), \(plan.skipped.count) left out"
                )
                CampaignPlanText.print(plan)
            }
        }
    }
}
