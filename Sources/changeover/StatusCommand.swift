import ArgumentParser
import ChangeoverCore
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a changeover's step and facts, or list recent changeovers.")

    @OptionGroup var fleet: FleetOptions
    @Argument(help: "A changeover id; without it, the recent changeovers.") var id: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reporting {
            let store = StateStore(directory: try fleet.load().stateDirectory)
            if let id {
                guard let record = try store.changeover(id) else { throw Failure(.badInput, "no changeover \(id)") }
                if json { return try Output.json(record) }
                Output.line("changeover \(record.id): \(record.database) \(record.fromImage) → \(record.toImage)")
                Output.line("  step     \(record.machine.step) (\(record.machine.step.summary))")
                Output.line("  since    \(ISO8601DateFormatter().string(from: record.updatedAt))")
                if let failure = record.machine.failure {
                    Output.line("  failure  \(record.machine.failedStep.map { "\($0): " } ?? "")\(failure)")
                }
                for (key, value) in record.facts.sorted(by: { $0.key < $1.key }) { Output.line("  \(key) = \(value)") }
            } else {
                let records = try store.changeovers()
                if json { return try Output.json(records) }
                for record in records.prefix(20) {
                    Output.line("\(record.id)  \(record.machine.step.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0))  \(record.fromImage) → \(record.toImage)")
                }
            }
        }
    }
}
