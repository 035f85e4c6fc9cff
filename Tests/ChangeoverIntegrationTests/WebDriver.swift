import ChangeoverCore
import ChangeoverLab
import Foundation

/// Headless Chromium driven through chromedriver's WebDriver protocol (HTTP and JSON), spoken
/// with `LabHTTP`: no browser library. Chromium runs as root here, hence `--no-sandbox`.
struct WebDriver {
    static let chromedriver = "/usr/bin/chromedriver"
    static let chromium = "/usr/bin/chromium"
    /// The W3C key of an element reference in WebDriver's JSON.
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    let pid: pid_t
    let port: Int
    let session: String
    let profile: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Starts chromedriver on a free port and a browser session of `width`×`height`.
    static func start(width: Int, height: Int, log: String) async throws -> WebDriver {
        for path in [chromedriver, chromium] where !FileManager.default.isExecutableFile(atPath: path) {
            throw Failure(description: "\(path) is missing: `make deps` installs Debian's chromium and chromium-driver")
        }
        let port = FreePort.next()
        let pid = try Subprocess.spawn([chromedriver, "--port=\(port)", "--allowed-ips=127.0.0.1"], outputPath: log)
        let deadline = ContinuousClock.now + .seconds(20)
        var ready = false
        while ContinuousClock.now < deadline, !ready {
            if let response = try? await LabHTTP.request("GET", port: port, path: "/status", timeout: 5),
                response.status == 200
            {
                ready = true
            } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        guard ready else {
            kill(pid, SIGKILL)
            _ = Subprocess.reap(pid)
            throw Failure(description: "chromedriver did not answer on port \(port)")
        }
        let profile = NSTemporaryDirectory() + "changeover-chromium-\(UUID().uuidString)"
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": chromium,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run",
                            "--user-data-dir=\(profile)", "--window-size=\(width),\(height)", "--hide-scrollbars",
                        ],
                    ],
                ]
            ]
        ]
        do {
            let created = try await call(port: port, "POST", "/session", capabilities, timeout: 60)
            guard let session = (created as? [String: Any])?["sessionId"] as? String else {
                throw Failure(description: "no session in \(String(describing: created))")
            }
            return WebDriver(pid: pid, port: port, session: session, profile: profile)
        } catch {
            kill(pid, SIGKILL)
            _ = Subprocess.reap(pid)
            try? FileManager.default.removeItem(atPath: profile)
            throw error
        }
    }

    /// One WebDriver command; returns its `value`, throws its error.
    static func call(port: Int, _ method: String, _ path: String, _ body: [String: Any]? = nil, timeout: Int = 30)
        async throws -> Any?
    {
        let data =
            try body.map { try JSONSerialization.data(withJSONObject: $0) }
            ?? (method == "POST" ? Data("{}".utf8) : nil)
        let response = try await LabHTTP.request(method, port: port, path: path, json: data, timeout: timeout)
        let object =
            try? JSONSerialization.jsonObject(with: Data(response.body.utf8), options: [.fragmentsAllowed])
            as? [String: Any]
        guard response.status == 200 else {
            let error =
                (object?["value"] as? [String: Any]).map { "\($0["error"] ?? ""): \($0["message"] ?? "")" }
                ?? response.body
            throw Failure(description: "WebDriver \(method) \(path): HTTP \(response.status) \(error.prefix(400))")
        }
        let value = object?["value"]
        return value is NSNull ? nil : value
    }

    @discardableResult
    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil) async throws -> Any? {
        try await Self.call(port: port, method, "/session/\(session)\(path)", body)
    }

    func navigate(_ url: String) async throws { try await call("POST", "/url", ["url": url]) }

    func resize(width: Int, height: Int) async throws {
        try await call("POST", "/window/rect", ["width": width, "height": height])
    }

    /// The element `css` selects (the first), as WebDriver's reference.
    func element(_ css: String) async throws -> String {
        let found = try await call("POST", "/element", ["using": "css selector", "value": css])
        guard let reference = (found as? [String: Any])?[Self.elementKey] as? String else {
            throw Failure(description: "no element \(css)")
        }
        return reference
    }

    /// Types into the element as a keyboard would (`\u{E007}` is Enter).
    func type(_ text: String, into css: String) async throws {
        let reference = try await element(css)
        try await call("POST", "/element/\(reference)/value", ["text": text])
    }

    /// Clicks the element `css` selects; the page re-renders every second, so an element that
    /// went stale between finding and clicking is found again (a few times).
    func click(_ css: String) async throws {
        for attempt in 1...5 {
            let reference = try await element(css)
            do {
                try await call("POST", "/element/\(reference)/click", [:])
                return
            } catch {
                guard "\(error)".contains("stale element"), attempt < 5 else { throw error }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    /// Runs `script` (a function body) in the page and returns what it returns.
    func run(_ script: String, _ arguments: [Any] = []) async throws -> Any? {
        try await call("POST", "/execute/sync", ["script": script, "args": arguments])
    }

    func screenshot(to path: String) async throws {
        guard let base64 = try await call("GET", "/screenshot") as? String, let png = Data(base64Encoded: base64) else {
            throw Failure(description: "no screenshot")
        }
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try png.write(to: URL(fileURLWithPath: path))
    }

    /// Ends the session (the browser quits), then chromedriver.
    func quit() async {
        _ = try? await call("DELETE", "")
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(5)
        while Subprocess.reap(pid) == nil {
            if ContinuousClock.now > deadline {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { try? await Task.sleep(for: .milliseconds(10)) }
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        try? FileManager.default.removeItem(atPath: profile)
    }
}
