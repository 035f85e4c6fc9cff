import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// The server of the surrounding suite (see `PostgresServerTrait`).
enum SuitePostgres {
    @TaskLocal static var shared: LabPostgres?
}

/// A loopback port to listen on (see `FreePort.next`: outside the ephemeral range, never
/// handed out twice in this process).
func freePort() throws -> Int { FreePort.next() }

/// Starts one `LabPostgres` around a whole suite and stops it afterwards, also when a test
/// fails or throws.
struct PostgresServerTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        let server = try await LabPostgres.start()
        do {
            try await SuitePostgres.$shared.withValue(server) {
                try await function()
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == PostgresServerTrait {
    static var runningPostgres: Self { Self() }
}
