import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// The Engine API client against the real engine.
@Suite(.enabled(if: DockerTestEnvironment.available, DockerTestEnvironment.skipped))
struct DockerEngineClientTests {
    var client: DockerEngineClient { DockerEngineClient(socket: DockerTestEnvironment.socket ?? "") }

    /// Create, start, exec (stdout, stderr and exit code apart), kill, wait, remove; a volume
    /// made and removed; a missing image is a one-line `.notFound`.
    @Test func containerLifecycleAndExec() async throws {
        let name = "chg-test-client-\(UUID().uuidString.prefix(8).lowercased())"
        let labels = ["org.changeover.test": DockerTestEnvironment.run, "org.changeover.test.lab": name]
        try await client.createVolume(name, labels: labels)
        defer {
            Task {
                try? await client.removeContainer(name)
                try? await client.removeVolume(name)
            }
        }
        _ = try await client.createContainer(
            name,
            DockerContainerSpec(
                image: DockerLab.redisOld, command: ["sh", "-c", "trap 'exit 3' INT; while :; do sleep 0.05; done"],
                labels: labels, networkMode: "none", volumes: [(name, "/data")]))
        try await client.start(name)
        #expect(try await client.container(name).running)
        let result = try await client.exec(name, ["sh", "-c", "echo out; echo err >&2; exit 7"], timeout: .seconds(10))
        #expect(result.exitCode == 7 && result.stdout == "out\n" && result.stderr == "err\n")
        try await client.kill(name, signal: "SIGINT")
        #expect(try await client.wait(name, timeout: .seconds(10)) == 3)
        try await client.kill(name, signal: "SIGINT")  // not running: fine
        #expect(try await client.containers(label: "org.changeover.test.lab=\(name)") == [name])
        #expect(try await client.volume(name)?.mountpoint.isEmpty == false)
        try await client.removeContainer(name)
        try await client.removeVolume(name)
        #expect(try await client.containerIfExists(name) == nil)
        #expect(try await client.volume(name) == nil)
        try await client.removeVolume(name)  // gone: fine

        let error = await #expect(throws: DockerError.self) { try await client.image("changeover/none:missing") }
        #expect(error?.code == .notFound)
        #expect(error?.description.contains("\n") == false)
    }

    /// A request that waits (a container that never stops) gives way to the deadline and
    /// does not hold the cooperative pool meanwhile.
    @Test func waitingRequestsHonourTheirDeadlineOffThePool() async throws {
        let name = "chg-test-wait-\(UUID().uuidString.prefix(8).lowercased())"
        _ = try await client.createContainer(
            name,
            DockerContainerSpec(
                image: DockerLab.redisOld, command: ["sh", "-c", "sleep 60"],
                labels: ["org.changeover.test": DockerTestEnvironment.run], networkMode: "none"))
        try await client.start(name)
        let clock = ContinuousClock()
        let started = clock.now
        async let waits: [Bool] = withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do {
                        try await client.wait(name, timeout: .seconds(3))
                        return false
                    } catch {
                        return (error as? DockerError)?.code == .timeout
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        // Meanwhile the pool is free: a task of ours sleeps and wakes on time.
        try await Task.sleep(for: .milliseconds(200))
        let midway = clock.now - started
        #expect(await waits == [true, true, true, true])
        // Blocking the pool's 2 threads, the waits would hold it for 3 s at least.
        #expect(midway < .seconds(2))
        #expect(clock.now - started < .seconds(10))
        try await client.removeContainer(name)
    }
}
