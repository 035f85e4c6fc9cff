import ArgumentParser
import ChangeoverCore
import Foundation

extension CampaignCommand {
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pause",
            abstract:
                "Schedule nothing more and start no changeover of the campaign not started yet; those under way go on.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id.") var id: String

        func run() async throws {
            try await reporting {
                let campaign = try CampaignCommand.control(.pause, of: id, fleet: fleet)
                Output.line(
                    "campaign \(id) paused (it was \(campaign.effectiveState)); changeovers under way go on; `campaign resume` continues it"
                )
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract:
                "Continue a paused or halted campaign: a failed gate runs again; failures so far no longer count against --max-failures."
        )

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id.") var id: String

        func run() async throws {
            try await reporting {
                let campaign = try CampaignCommand.control(.run, of: id, fleet: fleet)
                let was = campaign.effectiveState
                let what = campaign.halt.map { " after: \($0.reason)" } ?? ""
                Output.line("campaign \(id) resumed (it was \(was))\(what); the daemon moves it on at its next tick")
            }
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "abort",
            abstract: "End a campaign: its changeovers not started are cancelled; those under way finish or roll back.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id.") var id: String
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func run() async throws {
            try await reporting {
                try Confirmation.require(
                    yes, verb: "campaign abort", question: "End campaign \(id) and cancel its changeovers not started?")
                let config = try fleet.load()
                guard
                    let (campaign, under) = try await CampaignCommand.operations(config).abort(
                        id, driver: CampaignDriver(runner: ChangeoverRunner(config: config)))
                else { return }
                Output.line(
                    "campaign \(id) \(campaign.state == .aborted ? "aborted" : "is aborting (the daemon finishes it)")"
                        + (under.isEmpty ? "" : "; under way, left to finish or roll back: \(Start.list(under))"))
            }
        }
    }

    /// Writes the operator's word; the campaign as it was. Refused for a campaign that finished.
    static func control(_ command: Campaign.Control.Command, of id: String, fleet: FleetOptions) throws -> Campaign {
        try operations(try fleet.load()).control(command, of: id)
    }

    /// What this operator does to campaigns, audited as this process's actor.
    static func operations(_ config: FleetConfig) -> CampaignOperations {
        CampaignOperations(
            store: StateStore(config: config),
            journal: Journal(auditLog: config.auditLog, actor: ChangeoverRunner.defaultActor()))
    }
}
