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
                _ = try CampaignCommand.control(.abort, of: id, fleet: fleet)
                // Acted on at once when no daemon is moving it on this instant (else by the daemon).
                let config = try fleet.load()
                try await CampaignDriver(runner: ChangeoverRunner(config: config)).look(at: id)
                let store = StateStore(config: config)
                guard let campaign = try store.campaign(id) else { return }
                let under = campaign.members.filter(\.inFlight).compactMap(\.changeover)
                    .filter { (try? store.changeover($0))?.machine.step != .pending }
                Output.line(
                    "campaign \(id) \(campaign.state == .aborted ? "aborted" : "is aborting (the daemon finishes it)")"
                        + (under.isEmpty ? "" : "; under way, left to finish or roll back: \(Start.list(under))"))
            }
        }
    }

    /// Writes the operator's word; the campaign as it was. Refused for a campaign that finished.
    static func control(_ command: Campaign.Control.Command, of id: String, fleet: FleetOptions) throws -> Campaign {
        let config = try fleet.load()
        let journal = Journal(auditLog: config.auditLog, actor: ChangeoverRunner.defaultActor())
        return try CampaignOperations(store: StateStore(config: config), journal: journal).control(command, of: id)
    }
}
