import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient
import Testing

@Suite(.serialized) struct HAProxyRouterTests {
    /// A writer through haproxy's frontend across a changeover: haproxy cannot hold clients, so
    /// they see errors between the fence and the repoint and reconnect; none of the acknowledged
    /// writes is lost and haproxy sends new connections to the new primary.
    @Test func writerThroughHAProxyLosesNoAcknowledgedWrite() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let proxy = try await LabHAProxy.start(lab: scenario.lab, inFrontOf: scenario.primary)
            let writer = AckedWriter(conninfo: proxy.clientConnInfo(lab: scenario.lab))
            try await withCleanup({
                _ = await writer.stop()
                await proxy.stop()
            }) {
                await writer.start()
                try await writer.waitForAcknowledgements(50)
                let began = ContinuousClock.now
                let summary = try await scenario.changeover(0, router: proxy.routerConfig)
                try #require(
                    summary.outcome == .completed,
                    "\(summary.failedStep.map { "\($0)" } ?? ""): \(summary.failure ?? "")")
                try await writer.waitForAcknowledgements(100)
                let pause = await writer.longestGap(since: began)
                let report = await writer.stop()

                let newPrimary = try #require(summary.newPrimary)
                let viaProxy = try await PostgresConnection.connect(
                    proxy.clientConnInfo(lab: scenario.lab), timeout: .seconds(5))
                defer { viaProxy.close() }
                #expect(
                    try await viaProxy.query("SELECT inet_server_port()::text", timeout: .seconds(5)).scalar
                        == String(newPrimary.port))
                let direct = try await scenario.lab.connect(try ConnInfo(newPrimary.address))
                defer { direct.close() }
                let missing = try await AckedWriter.missing(report.acknowledged, on: direct)
                #expect(missing.isEmpty, "lost \(missing.count) acknowledged writes")
                #expect(report.reconnects >= 2, "the writer never reconnected, so it never reached the new primary")
                print(
                    "haproxy changeover: writer pause \(String(format: "%.1f", pause)) ms, \(report.errors) client errors "
                        + "(\(report.reconnects - 1) reconnects), \(report.acknowledged.count) acknowledged writes, \(missing.count) lost"
                )
            }
        }
    }

    /// Unknown backends and servers are errors that name what haproxy said; nothing moves.
    @Test func unknownBackendOrServerIsAnError() async throws {
        try await withScenario(changeovers: 1, startWriter: false) { scenario in
            let proxy = try await LabHAProxy.start(lab: scenario.lab, inFrontOf: scenario.primary)
            try await withCleanup({ await proxy.stop() }) {
                let target = Endpoint(host: "127.0.0.1", port: scenario.followerPorts[0], address: "")
                for (backend, server, reply) in [
                    ("nope", proxy.server, "No such backend"), (proxy.backend, "nope", "No such server"),
                ] {
                    let router = HAProxyRouter(
                        socket: proxy.socket, backend: backend, server: server, timeout: .seconds(5))
                    let error = await #expect(throws: RouterError.self) {
                        try await router.repoint(database: "orders", to: target, from: nil, changeover: "test")
                    }
                    #expect(error?.description.contains(reply) == true, "\(error?.description ?? "")")
                }
                // Preflight says the same before anything is built, and checks where the server points.
                let primary = Endpoint(host: "127.0.0.1", port: scenario.primary.port, address: "")
                let good = await HAProxyRouter(
                    socket: proxy.socket, backend: proxy.backend, server: proxy.server, timeout: .seconds(5)
                )
                .check(database: "orders", primary: primary)
                #expect(good.passed, "\(good.detail)")
                let elsewhere = await HAProxyRouter(
                    socket: proxy.socket, backend: proxy.backend, server: proxy.server, timeout: .seconds(5)
                )
                .check(database: "orders", primary: target)
                #expect(!elsewhere.passed && elsewhere.detail.contains("not to the primary"), "\(elsewhere.detail)")
                for (backend, server, reply) in [
                    ("nope", proxy.server, "no backend nope"), (proxy.backend, "nope", "has no server nope"),
                ] {
                    let check = await HAProxyRouter(
                        socket: proxy.socket, backend: backend, server: server, timeout: .seconds(5)
                    )
                    .check(database: "orders", primary: primary)
                    #expect(!check.passed && check.detail.contains(reply), "\(check.detail)")
                }
                let missing = HAProxyRouter(
                    socket: "\(proxy.directory)/absent.sock", backend: proxy.backend,
                    server: proxy.server, timeout: .seconds(5))
                #expect(await !missing.check(database: "orders", primary: primary).passed)
                await #expect(throws: RouterError.self) {
                    try await missing.repoint(database: "orders", to: target, from: nil, changeover: "test")
                }
                let viaProxy = try await PostgresConnection.connect(
                    proxy.clientConnInfo(lab: scenario.lab), timeout: .seconds(5))
                defer { viaProxy.close() }
                #expect(
                    try await viaProxy.query("SELECT inet_server_port()::text", timeout: .seconds(5)).scalar
                        == String(scenario.primary.port))
            }
        }
    }
}
