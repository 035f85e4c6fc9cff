import ArgumentParser
import ChangeoverCore
import Foundation

extension CampaignCommand {
    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract:
                "Every campaign in one line each, or one campaign: its waves, gates, failures, next windows and ETA.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id; all campaigns when left out.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let config = try fleet.load()
                let store = StateStore(config: config)
                let now = Date()
                guard let id else {
                    let all = try store.campaigns().map {
                        CampaignStatus($0, store: store, config: config, now: now, detail: false)
                    }
                    if json { return try Output.json(all) }
                    if all.isEmpty { Output.line("no campaigns") }
                    for campaign in all { Output.line(campaign.oneLine) }
                    return
                }
                guard let campaign = try store.campaign(id) else {
                    throw Failure(.badInput, "no campaign \(id) in the state store")
                }
                let status = CampaignStatus(campaign, store: store, config: config, now: now)
                if json { return try Output.json(status) }
                status.print()
            }
        }
    }
}

extension CampaignStatus {
    var oneLine: String {
        "\(id)  to \(image)  \(state)  \(done)/\(total) done, \(failures) failed"
            + (currentWave.map { "  wave \($0)" } ?? "") + (halt.map { "  halted: \($0)" } ?? "")
    }

    func print() {
        Output.line("campaign \(id) to \(image)\(from.map { " from \($0)" } ?? ""): \(state)")
        if let halt { Output.line("halted: \(halt)") }
        Output.line(
            "progress: \(done)/\(total) changed over, \(failures) failed (halts above \(maxFailures))"
                + (eta.map { "; expected done \(ScheduleText.iso($0))" }
                    ?? (finishedAt.map { "; ended \(ScheduleText.iso($0))" } ?? "")))
        for (index, wave) in waves.enumerated() {
            let counts = wave.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            let gate =
                wave.gates.last.map { run in
                    "; gate \(run.passed ? "passed" : "failed") (\(run.status.map { "exit \($0)" } ?? "did not finish"), "
                        + "\(String(format: "%.1f", run.finishedAt.timeIntervalSince(run.startedAt))) s"
                        + (wave.gates.count > 1 ? ", run \(wave.gates.count) times" : "") + ")"
                } ?? ""
            let when = wave.startedAt == nil ? "not begun" : wave.finishedAt == nil ? "under way" : "ended"
            Output.line("wave \(index + 1) \(wave.wave): \(when): \(counts)\(gate)")
            if let run = wave.gates.last, !run.passed, !run.output.isEmpty {
                Output.line(
                    "  gate said: \(run.output.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | "))")
            }
            for member in wave.members ?? [] where member.state != "done" {
                let when =
                    member.state == "scheduled" || member.state == "to-schedule"
                    ? member.expectedStart.map { ", window expected \(ScheduleText.iso($0))" } ?? "" : ""
                Output.line(
                    "  \(member.database): \(member.state)\(member.changeover.map { " \($0)" } ?? "")\(when)"
                        + (member.note.map { " (\($0))" } ?? ""))
            }
        }
    }
}
