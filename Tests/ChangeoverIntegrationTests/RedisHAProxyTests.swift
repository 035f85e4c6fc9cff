import ChangeoverCore
import ChangeoverLab
import Foundation
import RedisClient
import Testing

@Suite(.serialized) struct RedisHAProxyTests {
    /// A Redis writer through haproxy across a changeover: haproxy cannot hold clients, so the
    /// writer sees errors and reconnects (counted and printed), but no acknowledged write is lost
    /// and haproxy sends new connections to the new primary.
    @Test func redisWriterThroughHAProxyLosesNoAcknowledgedWrite() async throws {
        try await withScenario(engine: .redis, changeovers: 1, startWriter: false) { scenario in
            let proxy = try await LabHAProxy.start(lab: scenario.lab, inFrontOf: scenario.primary)
            let writer = RedisAckedWriter(endpoints: [scenario.lab.redisEndpoint(port: proxy.port)])
            try await withCleanup({
                _ = await writer.stop()
                await proxy.stop()
            }) {
                await writer.start()
                try await writer.waitForAcknowledgements(200)
                let began = ContinuousClock.now
                let summary = try await scenario.changeover(0, router: proxy.routerConfig)
                try #require(
                    summary.outcome == .completed,
                    "\(summary.failedStep.map { "\($0)" } ?? ""): \(summary.failure ?? "")")
                // Through haproxy the writer reconnects; on a loaded machine that takes a while.
                try await writer.waitForAcknowledgements(200, timeout: .seconds(120))
                let pause = await writer.longestGap(since: began)
                let report = await writer.stop()
                let newPrimary = try #require(summary.newPrimary)
                let missing = try await RedisAckedWriter.missing(
                    report.acknowledged, on: scenario.lab.redisEndpoint(port: newPrimary.port))
                #expect(missing.isEmpty, "lost \(missing.count) acknowledged writes")
                let viaProxy = try await RedisConnection.connect(
                    scenario.lab.redisEndpoint(port: proxy.port), timeout: .seconds(5))
                defer { viaProxy.close() }
                let info = RedisInfo(
                    parsing: try await viaProxy.command(["INFO", "server"], timeout: .seconds(5)).string ?? "")
                #expect(
                    info["tcp_port"] == String(newPrimary.port),
                    "haproxy still sends clients to port \(info["tcp_port"] ?? "?")")
                print(
                    "redis via haproxy: writer pause \(String(format: "%.1f", pause)) ms, \(report.errors) client errors, "
                        + "\(report.acknowledged.count) acknowledged writes, \(missing.count) lost")
            }
        }
    }
}
