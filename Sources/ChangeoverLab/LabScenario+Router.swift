import ChangeoverCore
import Foundation

extension LabScenario {
    /// The scenario's fleet config with `router` (the lines under `router:`, indented 6) in place
    /// of the hook router, and `switchover` (e.g. `{replayTimeout: 2s}`) when given.
    public func configText(followerPort: Int?, router: String, switchover: String? = nil) -> String {
        let base = configText(followerPort: followerPort, extra: switchover.map { "    switchover: \($0)" } ?? "")
        var lines: [String] = []
        var replacing = false
        for line in base.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if replacing {
                if line.hasPrefix("      ") { continue }
                replacing = false
            }
            lines.append(line)
            if line == "    router:" {
                replacing = true
                lines.append(router)
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Performs changeover number `index` (0-based) to the other image through `router`, in
    /// process. `environment` adds the router's secrets to the scenario's.
    public func changeover(
        _ index: Int, router: String, environment extra: [String: String] = [:], switchover: String? = nil,
        events: @escaping @Sendable (ChangeoverEvent) -> Void = { _ in }
    ) async throws -> ChangeoverSummary {
        try await changeover(
            configText: configText(followerPort: followerPorts[index], router: router, switchover: switchover),
            environment: extra, events: events)
    }
}
