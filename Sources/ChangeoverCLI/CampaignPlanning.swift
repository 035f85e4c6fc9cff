import ArgumentParser
import ChangeoverCore
import Foundation

/// What `campaign plan` and `campaign start` take to plan.
struct CampaignPlanning: ParsableArguments {
    @Option(
        help:
            "The image to roll out (a name from the config's images), or each old image's successor: pg15=pg15-patched,redis7=redis7-patched."
    )
    var image: String
    @Option(help: "Only databases on this image.") var from: String?
    @Option(help: "The waves in order, e.g. staging,canary:5%,production (tiers are the databases' tier label).")
    var waves: String
    @Option(help: "Switch every database by then, in a window or forced at it (ISO 8601, or +2h).") var deadline:
        String?

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
