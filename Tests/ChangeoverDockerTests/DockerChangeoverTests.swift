import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

/// Postgres changeovers of a dockerized database through the docker provisioner.
@Suite(.serialized, .enabled(if: DockerTestEnvironment.available, DockerTestEnvironment.skipped))
struct DockerChangeoverTests {
    /// From the old-libc image to the patched one and back, under a writer that records every
    /// acknowledged commit: every one is on each new primary; the follower container runs the
    /// new image's Id; the old primary's container stopped cleanly; its slot is gone from its
    /// volume; the audit log names both images (tag, Id, libc6) and verifies; the second
    /// changeover starts from the container the first one made (the state store follows it).
    @Test func postgresChangeoverToThePatchedImageLosesNoAcknowledgedWrite() async throws {
        try await withDockerScenario(.postgres, changeovers: 2) { scenario in
            let client = scenario.lab.client
            let old = try await client.image(DockerLab.postgresOld)
            let patched = try await client.image(DockerLab.postgresPatched)
            try #require(old.id != patched.id && old.libc6 != patched.libc6)
            var kept: [String] = []
            var oldContainer = scenario.primary.container
            for (index, (image, expected)) in [("pg15-patched", patched), ("pg15", old)].enumerated() {
                let summary = try await scenario.changeover(to: image, followerPort: scenario.followerPorts[index])
                try #require(summary.outcome == .completed, "changeover \(index + 1): \(summary.failure ?? "")")
                let follower = try #require(summary.facts["follower.container"])
                kept.append(follower)
                try await scenario.writer.waitForAcknowledgements(100)
                let acknowledged = await scenario.writer.acknowledgedSoFar()
                let newPrimary = try #require(summary.newPrimary)
                #expect(newPrimary.port == scenario.followerPorts[index])
                let missing = try await scenario.missing(acknowledged, port: newPrimary.port)
                #expect(missing.isEmpty, "changeover \(index + 1) lost \(missing.count) acknowledged commits")

                let container = try await client.container(follower)
                #expect(container.running && container.image == expected.id)
                #expect(container.labels["org.changeover.changeover"] == summary.id)
                // The fence returned once the postmaster had exited; the engine reports it a moment later.
                #expect(
                    try await client.wait(oldContainer, timeout: .seconds(10)) == 0,
                    "the old primary did not shut down cleanly")
                let stopped = try await client.container(oldContainer)
                #expect(summary.facts["old.container"] == oldContainer)
                let slot = try #require(summary.facts["slot"])
                let volume = try #require(stopped.mount(at: "/var/lib/postgresql/data")?.source)
                #expect(FileManager.default.fileExists(atPath: "\(volume)/PG_VERSION"))
                #expect(
                    !FileManager.default.fileExists(atPath: "\(volume)/pg_replslot/\(slot)"),
                    "the slot was left on the old primary")

                let record = try provisionRecord(scenario.auditPath, changeover: summary.id)
                let from = index == 0 ? old : patched
                #expect(record.facts["image.from.id"] == from.id && record.facts["image.from.libc6"] == from.libc6)
                #expect(record.facts["image.to.id"] == expected.id && record.facts["image.to.libc6"] == expected.libc6)
                #expect(
                    record.facts["image.to.tag"] == (index == 0 ? DockerLab.postgresPatched : DockerLab.postgresOld))
                #expect(
                    record.facts["image.from.tag"] == (index == 0 ? DockerLab.postgresOld : DockerLab.postgresPatched))
                #expect(AuditLog.verify(path: scenario.auditPath).isIntact)
                print(
                    "docker changeover \(index + 1): \(record.facts["image.from.tag"] ?? "?") (libc6 \(record.facts["image.from.libc6"] ?? "?")) → \(record.facts["image.to.tag"] ?? "?") (libc6 \(record.facts["image.to.libc6"] ?? "?")), base backup in container \(summary.facts["basebackup.seconds"] ?? "?") s, write pause \(summary.facts["writePause.ms"] ?? "?") ms ("
                        + summary.timings.map { "\($0.step) \(String(format: "%.0f", $0.milliseconds))" }.joined(
                            separator: ", ")
                        + "; stop \(summary.facts["stop.ms"] ?? "?"), control data \(summary.facts["controldata.ms"] ?? "?"), promote \(summary.facts["promote.ms"] ?? "?") ms)"
                )
                // A 5 s promotion was the standby asleep in wal_retrieve_retry_interval (now 50 ms on
                // docker followers); should a slow one show again, the follower's log tells why.
                if let promote = summary.facts["promote.ms"].flatMap(Double.init), promote > 1000 {
                    print(
                        "slow promotion (\(promote) ms); the follower's log:\n\(try await client.logs(follower, tail: 40))"
                    )
                }
                oldContainer = follower
            }
            let report = await scenario.writer.stop()
            #expect(try await scenario.missing(report.acknowledged, port: scenario.followerPorts[1]).isEmpty)
            #expect(report.acknowledged.count > 200)
            let records = try AuditLog.read(path: scenario.auditPath)
            #expect(records.filter { $0.step == "changeover" && $0.outcome == "completed" }.count == 2)
            print(
                "two docker changeovers: \(report.acknowledged.count) acknowledged commits, 0 lost, longest writer gap \(String(format: "%.1f", report.longestGapMilliseconds)) ms"
            )
            return kept
        }
    }

    /// A catch-up that cannot succeed in time aborts: the follower's container and volume are
    /// removed, the slot dropped, the primary serves and lost nothing; one line, exit status 4.
    @Test func catchUpTimeoutRemovesTheFollowerContainerAndVolume() async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                catchUp: "      holdFor: 10s\n      pollEvery: 50ms\n      timeout: 1500ms")
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment)
            #expect(result.status == 4, "exit status \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains("catch-up failed: the follower did not catch up within 1.5 s"),
                "\(result.stderr)")
            #expect(
                !result.stderr.contains(scenario.lab.superuserPassword)
                    && !result.stdout.contains(scenario.lab.replicationPassword))
            try await expectFollowerGone(scenario)

            let records = try AuditLog.read(path: scenario.auditPath)
            let id = try #require(records.first?.changeover)
            #expect(
                try provisionRecord(scenario.auditPath, changeover: id).facts["follower.container"]
                    == DockerNames.follower(changeover: id))
            #expect(records.last?.step == "changeover" && records.last?.outcome == "aborted")
            #expect(AuditLog.verify(path: scenario.auditPath).isIntact)
            return []
        }
    }

    /// A controller killed before the fence (or just after it: the old primary's container is
    /// stopped), then `abort`: the follower's container and volume are gone, the old primary's
    /// container runs again and serves, no acknowledged commit is lost.
    @Test(arguments: ["kill-before:fence", "kill-after:fence"])
    func operatorAbortAfterAKilledControllerRemovesTheFollower(_ fault: String) async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            try scenario.writeConfig(followerPort: scenario.followerPorts[0])
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment.merging(["CHANGEOVER_FAULT": fault]) { _, new in new })
            #expect(killed.status == 128 + SIGKILL)
            let id = try #require(try StateStore(directory: "\(scenario.lab.root)/state").changeovers().first?.id)
            #expect(
                try await scenario.lab.client.containerIfExists(DockerNames.follower(changeover: id))?.running == true)
            if fault == "kill-after:fence" {
                #expect(try await scenario.lab.client.wait(scenario.primary.container, timeout: .seconds(10)) == 0)
            } else {
                #expect(try await scenario.lab.client.container(scenario.primary.container).running)
            }
            let aborted = try await CLI.run(
                ["abort", "--config", scenario.configPath, id, "--yes"], environment: scenario.lab.environment)
            #expect(aborted.status == 0, "\(aborted.stderr)")
            try await expectFollowerGone(scenario)
            let records = try AuditLog.read(path: scenario.auditPath)
            #expect(records.last?.outcome == "aborted")
            #expect(
                records.last { $0.step == "rollback" }?.facts["old.restarted"]
                    == (fault == "kill-after:fence" ? "true" : "false"))
            return []
        }
    }

    /// The controller SIGKILLed at a step boundary, then `resume`: the changeover completes from
    /// the containers it finds (a running follower is adopted, a stopped primary is fenced
    /// already), no acknowledged commit is lost, and only the new primary's container runs.
    @Test(arguments: ["kill-after:provision", "kill-after:fence", "kill-before:settle"])
    func killedControllerIsResumedToCompletion(_ fault: String) async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            try scenario.writeConfig(followerPort: scenario.followerPorts[0])
            let killed = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment.merging(["CHANGEOVER_FAULT": fault]) { _, new in new })
            #expect(killed.status == 128 + SIGKILL, "\(fault): exit \(killed.status): \(killed.stderr)")
            let store = StateStore(directory: "\(scenario.lab.root)/state")
            let id = try #require(try store.changeovers().first?.id)
            let resumed = try await CLI.run(
                ["resume", "--config", scenario.configPath, id], environment: scenario.lab.environment)
            #expect(resumed.status == 0, "\(fault): resume exited \(resumed.status): \(resumed.stderr)")
            let follower = DockerNames.follower(changeover: id)
            try await scenario.writer.waitForAcknowledgements(100)
            let report = await scenario.writer.stop()
            let missing = try await scenario.missing(report.acknowledged, port: scenario.followerPorts[0])
            #expect(missing.isEmpty, "\(fault): lost \(missing.count) acknowledged commits")
            let client = scenario.lab.client
            #expect(try await client.container(follower).running)
            #expect(try await !client.container(scenario.primary.container).running)
            #expect(try store.database("orders")?.container == follower)
            let records = try AuditLog.read(path: scenario.auditPath)
            #expect(records.contains { $0.outcome == "resumed" } && records.last?.outcome == "completed")
            #expect(AuditLog.verify(path: scenario.auditPath).isIntact)
            return [follower]
        }
    }

    /// A "new" image that is the primary's image under another tag is refused before anything is
    /// made: one line naming the image Id, exit status 3.
    @Test func sameImageUnderAnotherTagIsRefused() async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            let alias = "changeover/postgres:15-libc2.36-9-deb12u7"
            let old = try await scenario.lab.client.image(DockerLab.postgresOld)
            try #require(try await scenario.lab.client.image(alias).id == old.id, "\(alias) is not 15-old's other tag")
            try scenario.writeConfig(
                followerPort: scenario.followerPorts[0],
                images: ["pg15": DockerLab.postgresOld, "pg15-patched": alias])
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment)
            #expect(result.status == 3, "exit \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains(
                    "new image: the primary's container \(scenario.primary.container) already runs \(alias)"),
                "\(result.stderr)")
            #expect(result.stderr.contains("the new image is not different"))
            try await expectFollowerGone(scenario)
            return []
        }
    }

    /// A primary container the engine would start again after the fence is refused in preflight.
    @Test func primaryContainerThatRestartsByItselfIsRefused() async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            try await scenario.lab.client.update(scenario.primary.container, restartPolicy: "unless-stopped")
            try scenario.writeConfig(followerPort: scenario.followerPorts[0])
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment)
            #expect(result.status == 3, "exit \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains(
                    "provisioner: the primary's container \(scenario.primary.container) has restart policy unless-stopped"
                ),
                "\(result.stderr)")
            try await expectFollowerGone(scenario)
            try await scenario.lab.client.update(scenario.primary.container, restartPolicy: "no")
            return []
        }
    }

    /// Where the engine is not: preflight says so in one line, nothing is touched.
    @Test func unreachableEngineFailsPreflight() async throws {
        try await withDockerScenario(.postgres, changeovers: 1) { scenario in
            try scenario.writeConfig(followerPort: scenario.followerPorts[0])
            let text = try String(contentsOfFile: scenario.configPath, encoding: .utf8)
                .replacingOccurrences(
                    of: "socket: \(scenario.lab.client.socketPath)", with: "socket: \(scenario.lab.root)/no-engine.sock"
                )
            try text.write(toFile: scenario.configPath, atomically: true, encoding: .utf8)
            let result = try await CLI.run(
                ["run", "--config", scenario.configPath, "--database", "orders", "--image", "pg15-patched", "--now"],
                environment: scenario.lab.environment)
            #expect(result.status == 3, "exit \(result.status): \(result.stderr)")
            #expect(result.stderrLines.count == 1)
            #expect(
                result.stderr.contains(
                    "provisioner: docker: ask the engine its version failed: cannot connect to \(scenario.lab.root)/no-engine.sock"
                ),
                "\(result.stderr)")
            try await expectFollowerGone(scenario)
            return []
        }
    }

    /// No follower container or volume of any changeover of this database, no slot on the
    /// primary, the primary serving, no acknowledged write lost.
    func expectFollowerGone(_ scenario: DockerScenario) async throws {
        let client = scenario.lab.client
        let followers = try await client.containers(label: "org.changeover.test.lab=\(scenario.lab.id)")
            .filter { $0 != scenario.primary.container }
        #expect(followers.isEmpty, "follower containers left: \(followers)")
        let volumes = try await client.volumes(label: "org.changeover.test.lab=\(scenario.lab.id)").filter {
            $0 != scenario.primary.container
        }
        #expect(volumes.isEmpty, "follower volumes left: \(volumes)")
        let connection = try await scenario.lab.connect(try #require(scenario.primary.conninfo))
        defer { connection.close() }
        #expect(
            try await connection.query("SELECT count(*)::text FROM pg_replication_slots", timeout: .seconds(5)).scalar
                == "0")
        #expect(try await connection.query("SELECT pg_is_in_recovery()::text", timeout: .seconds(5)).scalar == "false")
        try await scenario.writer.waitForAcknowledgements(50)
        let acknowledged = await scenario.writer.acknowledgedSoFar()
        #expect(try await scenario.missing(acknowledged, port: scenario.primary.port).isEmpty)
    }
}
