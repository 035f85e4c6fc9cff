import ArgumentParser
import ChangeoverCore

struct StepsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steps", abstract: "Print the changeover steps and every allowed transition.")

    func run() async throws {
        Output.line("steps:")
        for step in ChangeoverStep.allCases {
            Output.line("  \(step.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) \(step.summary)")
        }
        Output.line()
        Output.line("transitions:")
        for t in ChangeoverMachine.transitions {
            let arrow = "\(t.from) → \(t.to)".padding(toLength: 26, withPad: " ", startingAt: 0)
            Output.line(
                "  \(arrow) on \(t.trigger.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(t.note)")
        }
    }
}
