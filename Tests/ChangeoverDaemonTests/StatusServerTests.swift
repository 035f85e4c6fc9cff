import ChangeoverCore
import ChangeoverLab
import Foundation
import Logging
import Testing

@testable import ChangeoverDaemon

/// The daemon's HTTP endpoints, in process: the token gate, the routes, the Prometheus text.
@Suite struct StatusServerTests {
    func withServer(token: String = "s3cret-token", _ body: (StatusServer) async throws -> Void) async throws {
        let server = try StatusServer(host: "127.0.0.1", port: 0, token: token, logger: Logger(label: "test")) {
            target in
            // The handler is given the request's target: its path and its query.
            switch target.split(separator: "?", maxSplits: 1).first {
            case "/status": .init(status: 200, contentType: "application/json", body: Array("{\"ok\":true}".utf8))
            case "/target": .text(200, "\(target)\n")
            default: .text(404, "nope\n")
            }
        }
        let running = Task { try await server.run() }
        do {
            try await body(server)
        } catch {
            running.cancel()
            _ = await running.result
            throw error
        }
        running.cancel()
        _ = await running.result
    }

    @Test func requestsWithoutTheRightTokenGet401() async throws {
        try await withServer { server in
            let none = try await LabHTTP.get(port: server.port, path: "/status")
            #expect(none.status == 401)
            #expect(none.headers["www-authenticate"] == "Bearer realm=\"changeover\"")
            #expect(!none.body.contains("s3cret"))
            #expect(try await LabHTTP.get(port: server.port, path: "/status", token: "s3cret-tokeX").status == 401)
            #expect(try await LabHTTP.get(port: server.port, path: "/status", token: "s3cret").status == 401)
            #expect(
                try await LabHTTP.get(
                    port: server.port, path: "/status", extraHeaders: ["Authorization: Basic czNjcmV0LXRva2Vu"]
                ).status == 401)
            // Not even a 404 leaks without the token.
            #expect(try await LabHTTP.get(port: server.port, path: "/elsewhere").status == 401)
        }
    }

    @Test func theRightTokenGetsTheRoutes() async throws {
        try await withServer { server in
            let ok = try await LabHTTP.get(port: server.port, path: "/status?pretty=1", token: "s3cret-token")
            #expect(ok.status == 200)
            #expect(ok.headers["content-type"] == "application/json")
            #expect(ok.body == "{\"ok\":true}")
            #expect(try await LabHTTP.get(port: server.port, path: "/elsewhere", token: "s3cret-token").status == 404)
            let target = try await LabHTTP.get(
                port: server.port, path: "/target?offset=1&limit=2", token: "s3cret-token")
            #expect(target.body == "/target?offset=1&limit=2\n")
            let lowercase = try await LabHTTP.get(
                port: server.port, path: "/status", extraHeaders: ["authorization: bearer s3cret-token"])
            #expect(lowercase.status == 200)
        }
    }

    @Test func aServerRefusesAnEmptyTokenAndAPortInUse() async throws {
        #expect(throws: ServerError.self) {
            try StatusServer(host: "127.0.0.1", port: 0, token: "", logger: Logger(label: "test")) { _ in .text(200, "")
            }
        }
        try await withServer { server in
            let error = #expect(throws: ServerError.self) {
                try StatusServer(host: "127.0.0.1", port: server.port, token: "x", logger: Logger(label: "test")) { _ in
                    .text(200, "")
                }
            }
            #expect(error?.description.contains("cannot listen on 127.0.0.1:\(server.port)") == true)
        }
    }

    @Test func metricsTextEscapesLabelsAndFormatsNumbers() {
        var text = MetricsText()
        text.gauge(
            "changeover_x", "Help with a \\ backslash.",
            [(["database": "a\"b\nc", "step": "fence"], 0.0625), ([:], 3)])
        #expect(
            text.text == """
                # HELP changeover_x Help with a \\\\ backslash.
                # TYPE changeover_x gauge
                changeover_x{database="a\\"b\\nc",step="fence"} 0.0625
                changeover_x 3

                """)
    }
}

/// What the server sends without the token: the page's files and the health check, with the
/// headers that keep the page to its own script and style.
@Suite struct StatusServerOpenPathTests {
    @Test func openPathsNeedNoTokenAndEveryResponseCarriesTheSecurityHeaders() async throws {
        let server = try StatusServer(
            host: "127.0.0.1", port: 0, token: "s3cret-token", logger: Logger(label: "test"),
            open: { $0 == "/healthz" ? .text(200, "running\n") : nil },
            handler: { _ in .text(200, "data\n") })
        let running = Task { try await server.run() }
        defer { running.cancel() }
        let health = try await LabHTTP.get(port: server.port, path: "/healthz")
        #expect(health.status == 200 && health.body == "running\n")
        #expect(health.headers["x-content-type-options"] == "nosniff")
        let csp = try #require(health.headers["content-security-policy"])
        #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"))
        let refused = try await LabHTTP.get(port: server.port, path: "/data")
        #expect(refused.status == 401 && refused.headers["x-content-type-options"] == "nosniff")
        #expect(try await LabHTTP.get(port: server.port, path: "/data", token: "s3cret-token").body == "data\n")
    }

    @Test func thePageHasNoInlineScriptOrStyleAndNamesItsFiles() {
        let html = StatusPage.html
        #expect(html.contains("<script src=\"/app.js\" defer></script>"))
        #expect(html.contains("<link rel=\"stylesheet\" href=\"/app.css\">"))
        #expect(
            !html.contains("<script>") && !html.contains("<style") && !html.contains(" style=")
                && !html.contains(" onclick"))
        // The script writes data as text, never as markup.
        #expect(!StatusPage.script.contains("innerHTML") && !StatusPage.script.contains("eval("))
        #expect(
            StatusPage.script.contains("sessionStorage") && !StatusPage.script.contains("document.cookie")
                && !StatusPage.script.contains("localStorage"))
        #expect(StatusPage.script.contains("[\"preflight\",\"provision\",\"catch-up\",\"await-window\""))
    }

    @Test func auditPathsNameOneChangeover() {
        #expect(ChangeoverDaemon.auditID("/changeovers/c-1/audit") == "c-1")
        #expect(ChangeoverDaemon.auditID("/changeovers//audit") == nil)
        #expect(ChangeoverDaemon.auditID("/changeovers/a/b/audit") == nil)
        #expect(ChangeoverDaemon.auditID("/changeovers/a%2Fb/audit") == nil)
        #expect(ChangeoverDaemon.auditID("/changeovers/c-1") == nil)
    }
}
