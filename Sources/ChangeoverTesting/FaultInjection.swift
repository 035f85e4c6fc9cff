import ChangeoverCore
import Foundation

/// Test-only fault injection: `CHANGEOVER_FAULT=kill-before:STEP` or `kill-after:STEP` makes the
/// controller SIGKILL itself at that step boundary (after the step's start is recorded, or
/// after its action returned and before its outcome is recorded). The integration tests run the
/// CLI with it to prove that `resume` picks up from any instant. This is the only place that
/// reads the variable, and only this test program has it: the `changeover` that is installed
/// keeps the runner's hook that does nothing.
enum FaultInjection {
    static func install(
        in runner: inout ChangeoverRunner,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        guard let spec = environment["CHANGEOVER_FAULT"], let colon = spec.firstIndex(of: ":"),
            let step = ChangeoverStep(rawValue: String(spec[spec.index(after: colon)...]))
        else { return }
        let boundary: FaultHook.Boundary
        switch spec[..<colon] {
        case "kill-before": boundary = .before(step)
        case "kill-after": boundary = .after(step)
        default: return
        }
        runner.faults = FaultHook { reached in
            if reached == boundary { kill(getpid(), SIGKILL) }
        }
    }
}
