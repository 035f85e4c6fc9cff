import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

/// Redis changeovers of a dockerized database through the docker provisioner.
@Suite(.serialized, .enabled(if: DockerTestEnvironment.available, DockerTestEnvironment.skipped))
struct DockerRedisChangeoverTests {
    /// From the old-libc image to the patched one under a writer that records every acknowledged
    /// SADD: every one is on the new primary, which runs the patched image's Id and took the
    /// primary's users; the old primary was shut down (retireAfter 0s) and its container, the
    /// test's own, is left stopped; the audit log names both images and verifies.
    @Test func redisChangeoverToThePatchedImageLosesNoAcknowledgedWrite() async throws {
        try await withDockerScenario(.redis, changeovers: 1) { scenario in
            let client = scenario.lab.client
            let old = try await client.image(DockerLab.redisOld)
            let patched = try await client.image(DockerLab.redisPatched)
            try #require(old.id != patched.id)
            let summary = try await scenario.changeover(to: "redis7-patched", followerPort: scenario.followerPorts[0])
            try #require(summary.outcome == .completed, "\(summary.failure ?? "")")
            let follower = try #require(summary.facts["follower.container"])
            try await scenario.writer.waitForAcknowledgements(200)
            let acknowledged = await scenario.writer.acknowledgedSoFar()
            let newPrimary = try #require(summary.newPrimary)
            #expect(newPrimary.port == scenario.followerPorts[0])
            #expect(
                try await scenario.missing(acknowledged, port: newPrimary.port).isEmpty, "acknowledged writes were lost"
            )

            let container = try await client.container(follower)
            #expect(container.running && container.image == patched.id)
            let connection = try await RedisConnection.connect(
                scenario.lab.redisEndpoint(port: newPrimary.port), timeout: .seconds(5))
            defer { connection.close() }
            guard case .master = try RedisRole(try await connection.command(["ROLE"], timeout: .seconds(5))) else {
                Issue.record("the new primary is not a master")
                return [follower]
            }
            // CONFIG REWRITE (settle) made the promotion part of the container's own config file.
            let config = try await client.exec(
                follower, ["cat", "/data/redis.conf"], user: "redis", timeout: .seconds(10))
            #expect(config.exitCode == 0 && !config.stdout.contains("replicaof"), "\(config.stdout)")
            #expect(summary.facts["follower.aclUsers"] == "1")

            let stopped = try await client.container(scenario.primary.container)
            #expect(!stopped.running, "the old primary's container still runs")
            let record = try provisionRecord(scenario.auditPath, changeover: summary.id)
            #expect(record.facts["image.from.id"] == old.id && record.facts["image.to.id"] == patched.id)
            #expect(record.facts["image.from.libc6"] == old.libc6 && record.facts["image.to.libc6"] == patched.libc6)
            #expect(
                record.facts["image.from.tag"] == DockerLab.redisOld
                    && record.facts["image.to.tag"] == DockerLab.redisPatched)
            #expect(AuditLog.verify(path: scenario.auditPath).isIntact)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: newPrimary.port).isEmpty)
            #expect(report.acknowledged.count > 200)
            print(
                "docker Redis changeover \(record.facts["image.from.tag"] ?? "?") (libc6 \(record.facts["image.from.libc6"] ?? "?")) → \(record.facts["image.to.tag"] ?? "?") (libc6 \(record.facts["image.to.libc6"] ?? "?")): \(report.acknowledged.count) acknowledged writes, 0 lost, write pause \(summary.facts["writePause.ms"] ?? "?") ms, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
            return [follower]
        }
    }

    /// The controller SIGKILLed after the replica was made, then `resume`: the running replica's
    /// container is adopted (its port from its labels), the changeover completes, nothing is lost.
    @Test func killedControllerAdoptsTheRunningReplica() async throws {
        try await withDockerScenario(.redis, changeovers: 1) { scenario in
            try scenario.writeConfig(followerPort: scenario.followerPorts[0])
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched", "--now"],
                environment: scenario.lab.environment.merging(["CHANGEOVER_FAULT": "kill-after:provision"]) { _, new in
                    new
                })
            #expect(killed.status == 128 + SIGKILL, "exit \(killed.status): \(killed.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let follower = DockerNames.follower(changeover: id)
            let before = try await scenario.lab.client.container(follower).id
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, id], environment: scenario.lab.environment)
            #expect(resumed.status == 0, "resume exited \(resumed.status): \(resumed.stderr)")
            #expect(try await scenario.lab.client.container(follower).id == before, "the replica was made again")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.followerPorts[0]).isEmpty)
            #expect(try store.changeover(id)?.machine.step == .done)
            return [follower]
        }
    }

    /// A catch-up that cannot finish in time: the follower's container and volume are removed,
    /// the primary is unpaused and writable, exit status 4.
    @Test func redisCatchUpTimeoutRemovesTheFollowerContainerAndVolume() async throws {
        try await withDockerScenario(.redis, changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 10s\n      pollEvery: 50ms\n      timeout: 1500ms")
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "redis7-patched", "--now"],
                environment: scenario.lab.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains("catch-up failed: the follower did not catch up within 1.5 s"),
                "\(result.stderr)")
            let client = scenario.lab.client
            let containers = try await client.containers(label: "org.changeover.test.lab=\(scenario.lab.id)")
            #expect(containers == [scenario.primary.container], "containers: \(containers)")
            let volumes = try await client.volumes(label: "org.changeover.test.lab=\(scenario.lab.id)")
            #expect(volumes == [scenario.primary.container], "volumes: \(volumes)")
            #expect(!FreePort.accepts(scenario.followerPorts[0]), "the follower still listens")
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.primary.port).isEmpty)
            #expect(try AuditLog.read(path: scenario.auditPath).last?.outcome == "aborted")
            return []
        }
    }
}
