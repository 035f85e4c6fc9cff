import ArgumentParser
import ChangeoverCore

struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan", abstract: "Show the steps, the checks and what would be created; touch nothing.")

    @OptionGroup var fleet: FleetOptions
    @Option(help: "The database to change over.") var database: String
    @Option(help: "The image to change over to.") var image: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        try await reporting {
            let runner = ChangeoverRunner(config: try fleet.load())
            let plan = try await runner.plan(database: database, image: image)
            if json {
                try Output.json(plan)
            } else {
                Output.line(
                    "changeover plan for \(plan.database): \(plan.fromImage) → \(plan.toImage), primary \(plan.primary)"
                )
                Output.line()
                Output.line("checks:")
                for check in plan.checks {
                    Output.line("  \(check.passed ? "ok  " : "FAIL") \(check.name): \(check.detail)")
                }
                Output.line()
                Output.line("would create:")
                for resource in plan.resources { Output.line("  - \(resource)") }
                Output.line()
                Output.line("steps:")
                for (index, step) in plan.steps.enumerated() { Output.line("  \(index + 1). \(step)") }
            }
            if let failed = plan.checks.first(where: { !$0.passed }) {
                throw Failure(.preflight, "preflight failed: \(failed.name): \(failed.detail)")
            }
        }
    }
}
