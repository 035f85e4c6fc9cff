import ChangeoverCore
import ChangeoverLab
import Foundation

/// A loopback port to listen on (see `FreePort.next`: outside the ephemeral range, never
/// handed out twice in this process).
func freeLoopbackPort() throws -> Int { FreePort.next() }

/// Waits for `condition` with a deadline, polling; never a fixed sleep.
func eventually(
    within limit: Duration, _ condition: () async throws -> Bool
) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
