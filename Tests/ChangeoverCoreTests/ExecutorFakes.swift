import ChangeoverCore
import Foundation
import PostgresClient
import Synchronization

/// One call a recording component received, with what the journal showed when it came.
struct RecordedCall: Sendable, Equatable, CustomStringConvertible {
    var name: String
    /// The changeover's last audit record when the call came: "provision started".
    var lastAudit: String?
    /// The step the changeover's stored record showed when the call came.
    var storedStep: ChangeoverStep?

    var description: String { "\(name) [audit: \(lastAudit ?? "none"), stored: \(storedStep?.rawValue ?? "none")]" }
}

/// The fakes' shared notebook: each call is written down with the changeover's last audit record
/// and stored step as they were when the call came (read from the real audit log and store),
/// then `onCall` runs, then the call fails if the test asked it to.
final class CallRecorder: Sendable {
    let auditLog: String
    let store: StateStore
    let failures: [String: any Error]
    let onCall: @Sendable (String, String) async -> Void
    private let recorded = Mutex<[RecordedCall]>([])

    init(
        config: FleetConfig, failures: [String: any Error] = [:],
        onCall: @escaping @Sendable (_ call: String, _ changeover: String) async -> Void = { _, _ in }
    ) {
        auditLog = config.auditLog
        store = StateStore(config: config)
        self.failures = failures
        self.onCall = onCall
    }

    var calls: [RecordedCall] { recorded.withLock { $0 } }
    var names: [String] { calls.map(\.name) }

    func call(_ name: String, changeover: String) async throws {
        let last = (try? AuditLog.read(path: auditLog, changeover: changeover))?.last.map { "\($0.step) \($0.outcome)" }
        let stored = (try? store.changeover(changeover))?.machine.step
        recorded.withLock { $0.append(RecordedCall(name: name, lastAudit: last, storedStep: stored)) }
        await onCall(name, changeover)
        if let failure = failures[name] { throw failure }
    }

    /// The components a runner gets instead of the config's: all three record into this notebook.
    var components: ChangeoverComponents.Factory {
        { [self] context in
            let provisioner = RecordingProvisioner(recorder: self, changeover: context.changeover)
            return ChangeoverComponents(
                provisioner: provisioner,
                engine: RecordingEngine(
                    recorder: self, changeover: context.changeover, provisioner: provisioner,
                    image: context.toImage),
                router: RecordingRouter(recorder: self, changeover: context.changeover))
        }
    }
}

/// An engine that does nothing but write down its calls. Like the Redis engine it makes its
/// follower through the provisioner, and its rollback removes the follower first.
struct RecordingEngine: Engine {
    let recorder: CallRecorder
    let changeover: String
    let provisioner: RecordingProvisioner
    let image: FleetConfig.Image

    var currentPrimary: Endpoint { Endpoint(host: "127.0.0.1", port: 6379, address: "redis://127.0.0.1:6379") }

    private func call(_ name: String) async throws { try await recorder.call("engine.\(name)", changeover: changeover) }

    func preflight() async -> [PreflightCheck] {
        try? await call("preflight")
        return [PreflightCheck("primary", passed: true, "recorded")]
    }
    func plannedResources() -> [String] { [] }
    func provision(_ facts: inout Facts) async throws {
        try await call("provision")
        let follower = try await provisioner.createRedisFollower(
            changeover: changeover, image: image, port: nil, settings: [], acl: nil, primaryConfigFile: nil,
            primaryBind: nil, timeout: .seconds(1))
        facts["follower.host"] = follower.host
    }
    func catchUp(_ facts: inout Facts) async throws { try await call("catchUp") }
    func prepareFence(_ facts: inout Facts) async throws { try await call("prepareFence") }
    func fence(_ facts: inout Facts) async throws {
        try await call("fence")
        facts["final.position"] = "42"
    }
    func finalSync(_ facts: inout Facts) async throws { try await call("finalSync") }
    func promote(_ facts: inout Facts) async throws -> Endpoint {
        try await call("promote")
        return Endpoint(host: "127.0.0.1", port: 6380, address: "redis://127.0.0.1:6380")
    }
    func isPromoted(_ facts: Facts) async -> Bool { false }
    func demoteOldPrimary(_ facts: inout Facts) async throws { try await call("demoteOldPrimary") }
    func verify(_ facts: inout Facts) async throws { try await call("verify") }
    func settle(_ facts: inout Facts) async throws { try await call("settle") }
    func retireOldPrimary(_ facts: inout Facts) async throws -> String {
        try await call("retireOldPrimary")
        return "retired"
    }
    func rollBack(_ facts: inout Facts) async throws {
        try await call("rollBack")
        try await provisioner.removeRedisFollower(changeover: changeover, facts: facts, timeout: .seconds(1))
    }
}

/// A router that writes down its calls.
struct RecordingRouter: Router {
    let recorder: CallRecorder
    let changeover: String

    private func call(_ name: String) async throws { try await recorder.call("router.\(name)", changeover: changeover) }

    func pause(database: String) async throws { try await call("pause") }
    func repoint(database: String, to endpoint: Endpoint, from old: Endpoint?, changeover: String) async throws {
        try await call("repoint")
    }
    func resume(database: String) async throws { try await call("resume") }
    func check(database: String, primary: Endpoint) async -> PreflightCheck {
        try? await call("check")
        return PreflightCheck("router", passed: true, "recorded")
    }
}

/// A provisioner that writes down the calls that make and remove a Redis follower; the rest of
/// its protocol is not for these tests and says so.
struct RecordingProvisioner: Provisioner {
    let recorder: CallRecorder
    let changeover: String

    struct NotForTheseTests: Error {}

    private func call(_ name: String) async throws {
        try await recorder.call("provisioner.\(name)", changeover: changeover)
    }

    var listenAddress: String { "127.0.0.1" }
    func check(followerPort: Int?) async -> PreflightCheck { PreflightCheck("provisioner", passed: true, "recorded") }
    func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String { "nowhere" }
    func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        PreflightCheck("new image", passed: true, "recorded")
    }
    func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?) {
        ([], nil)
    }
    func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts { [:] }
    func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        PreflightCheck("primary", passed: true, "recorded")
    }
    func oldPrimaryFacts(dataDirectory: String) -> Facts { [:] }
    func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        throw NotForTheseTests()
    }
    func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        throw NotForTheseTests()
    }
    func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        throw NotForTheseTests()
    }
    func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower {
        throw NotForTheseTests()
    }
    func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    {
        throw NotForTheseTests()
    }
    func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String { throw NotForTheseTests() }
    func runningRedisFollower(changeover: String) async throws -> Follower? { nil }
    func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port: Int?, settings: [(String, String)],
        acl: String?, primaryConfigFile: String?, primaryBind: String?,
        timeout: Duration
    ) async throws -> Follower {
        try await call("createRedisFollower")
        return Follower(host: "127.0.0.1", port: 6380, facts: [:])
    }
    func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool { true }
    func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        try await call("removeRedisFollower")
    }
    func retireOldRedis(_ facts: Facts) async throws -> String? { nil }
}
