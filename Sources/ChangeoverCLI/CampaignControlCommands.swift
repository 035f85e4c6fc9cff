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
        @Option(help: "Halt once more than this many changeovers failed (resume acknowledges them).") var maxFailures = 0
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
                for (name, value) in [("--max-parallel", maxParallel), ("--max-parallel-per-host", maxParallelPerHost)] {
                    if let value, value < 1 { throw Failure(.badInput, "\(name) must be at least 1, not \(value)") }
                }
                guard maxFailures >= 0 else { throw Failure(.badInput, "--max-failures must be 0 or more, not \(maxFailures)") }

                let config = try fleet.load()
                let now = Date()
                let plan = try planning.plan(config: config, at: now)
                guard plan.memberCount > 0 else {
                    throw Failure(.badInput, "nothing to change over to \(planning.image): \(plan.skipped.count) database(s) left out"
                                  + (plan.skipped.first.map { " (\($0.database): \($0.reason)…)" } ?? ""))
                }
                let stuck = plan.waves.flatMap(\.members).filter { $0.opening == nil && $0.forcedAt == nil }.map(\.database)
                guard stuck.isEmpty else {
                    throw Failure(.badInput, "no maintenance window fits within a year for \(Self.list(stuck)): fix their windows or give --deadline")
                }
                let store = StateStore(config: config)
                let planned = Set(plan.waves.flatMap(\.members).map(\.database))
                for other in try store.campaigns() where !other.isFinished {
                    let shared = other.members.filter { $0.outcome == nil && planned.contains($0.database) }.map(\.database)
                    guard shared.isEmpty else {
                        throw Failure(.badInput, "campaign \(other.id) (to \(other.image), \(other.effectiveState)) already has \(Self.list(shared)); "
                                      + "let it finish or abort it first")
                    }
                }
                let actor = ChangeoverRunner.defaultActor()
                let campaign = Campaign(
                    id: Campaign.newID(at: now), plan: plan, image: planning.image, from: planning.from, at: now, by: actor,
                    gate: gate, gateTimeout: timeout, deadline: try planning.deadlineDate, maxParallel: maxParallel,
                    maxParallelPerHost: maxParallelPerHost, maxFailures: maxFailures)
                try CampaignOperations(store: store, journal: Journal(auditLog: config.auditLog, actor: actor))
                    .start(campaign, waves: planning.waves)
                if json { return try Output.json(CampaignStatus(campaign, store: store, config: config, now: now)) }
                Output.line("campaign \(campaign.id) started: \(plan.memberCount) database(s) to \(planning.image) in \(plan.waves.count) wave(s), "
                            + "\(plan.skipped.count) left out; the daemon (`changeover daemon`) moves it on")
                CampaignPlanText.print(plan)
            }
        }

        static func list(_ names: [String]) -> String {
            names.prefix(5).joined(separator: ", ") + (names.count > 5 ? " and \(names.count - 5) more" : "")
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Every campaign in one line each, or one campaign: its waves, gates, failures, next windows and ETA.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id; all campaigns when left out.") var id: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            try await reporting {
                let config = try fleet.load()
                let store = StateStore(config: config)
                let now = Date()
                guard let id else {
                    let all = try store.campaigns().map { CampaignStatus($0, store: store, config: config, now: now, detail: false) }
                    if json { return try Output.json(all) }
                    if all.isEmpty { Output.line("no campaigns") }
                    for campaign in all { Output.line(campaign.oneLine) }
                    return
                }
                guard let campaign = try store.campaign(id) else { throw Failure(.badInput, "no campaign \(id) in the state store") }
                let status = CampaignStatus(campaign, store: store, config: config, now: now)
                if json { return try Output.json(status) }
                status.print()
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pause",
            abstract: "Schedule nothing more and start no changeover of the campaign not started yet; those under way go on.")

        @OptionGroup var fleet: FleetOptions
        @Argument(help: "The campaign id.") var id: String

        func run() async throws {
            try await reporting {
                let campaign = try CampaignCommand.control(.pause, of: id, fleet: fleet)
                Output.line("campaign \(id) paused (it was \(campaign.effectiveState)); changeovers under way go on; `campaign resume` continues it")
            }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Continue a paused or halted campaign: a failed gate runs again; failures so far no longer count against --max-failures.")

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
                try Confirmation.require(yes, verb: "campaign abort", question: "End campaign \(id) and cancel its changeovers not started?")
                _ = try CampaignCommand.control(.abort, of: id, fleet: fleet)
                // Acted on at once when no daemon is moving it on this instant (else by the daemon).
                let config = try fleet.load()
                try await CampaignDriver(runner: ChangeoverRunner(config: config)).look(at: id)
                let store = StateStore(config: config)
                guard let campaign = try store.campaign(id) else { return }
                let under = campaign.members.filter(\.inFlight).compactMap(\.changeover)
                    .filter { (try? store.changeover($0))?.machine.step != .pending }
                Output.line("campaign \(id) \(campaign.state == .aborted ? "aborted" : "is aborting (the daemon finishes it)")"
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

extension CampaignStatus {
    var oneLine: String {
        "\(id)  to \(image)  \(state)  \(done)/\(total) done, \(failures) failed"
            + (currentWave.map { "  wave \($0)" } ?? "") + (halt.map { "  halted: \($0)" } ?? "")
    }

    func print() {
        Output.line("campaign \(id) to \(image)\(from.map { " from \($0)" } ?? ""): \(state)")
        if let halt { Output.line("halted: \(halt)") }
        Output.line("progress: \(done)/\(total) changed over, \(failures) failed (halts above \(maxFailures))"
                    + (eta.map { "; expected done \(ScheduleText.iso($0))" } ?? (finishedAt.map { "; ended \(ScheduleText.iso($0))" } ?? "")))
        for (index, wave) in waves.enumerated() {
            let counts = wave.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
            let gate = wave.gates.last.map { run in
                "; gate \(run.passed ? "passed" : "failed") (\(run.status.map { "exit \($0)" } ?? "did not finish"), "
                    + "\(String(format: "%.1f", run.finishedAt.timeIntervalSince(run.startedAt))) s"
                    + (wave.gates.count > 1 ? ", run \(wave.gates.count) times" : "") + ")"
            } ?? ""
            let when = wave.startedAt == nil ? "not begun" : wave.finishedAt == nil ? "under way" : "ended"
            Output.line("wave \(index + 1) \(wave.wave): \(when): \(counts)\(gate)")
            if let run = wave.gates.last, !run.passed, !run.output.isEmpty {
                Output.line("  gate said: \(run.output.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | "))")
            }
            for member in wave.members ?? [] where member.state != "done" {
                let when = member.state == "scheduled" || member.state == "to-schedule"
                    ? member.expectedStart.map { ", window expected \(ScheduleText.iso($0))" } ?? "" : ""
                Output.line("  \(member.database): \(member.state)\(member.changeover.map { " \($0)" } ?? "")\(when)"
                            + (member.note.map { " (\($0))" } ?? ""))
            }
        }
    }
}
