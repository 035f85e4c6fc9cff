import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `changeover daemon` run as the built executable, in the background, as an operator would.
struct DaemonProcess {
    let pid: pid_t
    let port: Int
    let token: String
    let log: String

    /// Starts the daemon and waits until its status endpoint answers.
    static func start(
        config: String, port: Int, environment: [String: String], token: String, log: String,
        arguments: [String] = []
    ) async throws -> DaemonProcess {
        let pid = try Subprocess.spawn(
            [CLI.executable, "daemon", "--config", config] + arguments,
            environment: environment.merging(["TEST_DAEMON_TOKEN": token]) { _, new in new },
            outputPath: log)
        let daemon = DaemonProcess(pid: pid, port: port, token: token, log: log)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let status = Subprocess.reap(pid) {
                throw LabHTTP.Failure(description: "the daemon exited with \(status): \(daemon.output)")
            }
            if let response = try? await LabHTTP.get(port: port, path: "/status", token: token), response.status == 200
            {
                return daemon
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        kill(pid, SIGKILL)
        _ = Subprocess.reap(pid)
        throw LabHTTP.Failure(description: "the daemon did not answer on port \(port): \(daemon.output)")
    }

    var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

    /// Sends SIGTERM and waits for the exit status.
    func terminate(within limit: Duration = .seconds(30)) async throws -> Int32 {
        kill(pid, SIGTERM)
        return try await waitForExit(within: limit)
    }

    func waitForExit(within limit: Duration) async throws -> Int32 {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            if let status = Subprocess.reap(pid) { return status }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        while Subprocess.reap(pid) == nil { try await Task.sleep(for: .milliseconds(10)) }
        throw LabHTTP.Failure(description: "the daemon did not exit within \(limit): \(output)")
    }

    /// Kills it if it still runs (a failed test must not leave it behind).
    func kill9() {
        if Subprocess.reap(pid) == nil {
            kill(pid, SIGKILL)
            while Subprocess.reap(pid) == nil { usleep(1000) }
        }
    }

    func status() async throws -> [String: Any] {
        let response = try await LabHTTP.get(port: port, path: "/status", token: token)
        guard response.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
        else { throw LabHTTP.Failure(description: "status \(response.status): \(response.body)") }
        return object
    }
}

/// ISO 8601 in UTC, whole seconds, for one-off windows in test configs.
func iso(_ date: Date) -> String { ScheduleText.iso(date) }

/// The next whole second at least `seconds` from now.
func wholeSecond(in seconds: Double) -> Date {
    Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + seconds).rounded(.up))
}

/// A weekly window that opens two to four days from now (never during a test): "thu 03:00".
func weeklyWindowDaysAway() -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "UTC")
    formatter.dateFormat = "EEEE"
    return "\(formatter.string(from: Date().addingTimeInterval(3 * 86_400))) 03:00"
}

/// Polls `condition` every 100 ms until it holds or `limit` passes.
func eventually(_ limit: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
