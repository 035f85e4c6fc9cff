import Foundation

/// A service unit this controller writes for a server it made (`service: systemd`), so that the
/// new primary is started at boot like the old one was: `/etc/systemd/system/changeover-ID.service`,
/// checked with `systemd-analyze verify` where that tool exists, then enabled.
public struct SystemdUnit: Sendable, Equatable {
    public static let directory = "/etc/systemd/system"
    public static let prefix = "changeover-"

    public var name: String
    public var summary: String
    public var user: String?
    public var execStart: [String]
    public var environment: [String: String] = [:]
    /// Further `[Service]` lines (`KillSignal=SIGINT`).
    public var service: [String] = []

    /// The unit of a changeover's server.
    public static func name(changeover: String) -> String { "\(prefix)\(changeover).service" }

    public var path: String { "\(Self.directory)/\(name)" }

    public init(changeover: String, summary: String, user: String?, execStart: [String]) {
        name = Self.name(changeover: changeover)
        self.summary = summary
        self.user = user
        self.execStart = execStart
    }

    public var text: String {
        var lines = [
            "# Written by changeover; removed by it if the changeover is rolled back.",
            "[Unit]", "Description=\(summary)", "After=network-online.target", "Wants=network-online.target", "",
            "[Service]", "Type=notify",
        ]
        if let user { lines += ["User=\(user)", "Group=\(user)"] }
        lines += environment.sorted { $0.key < $1.key }.map { "Environment=\(Self.quote("\($0.key)=\($0.value)"))" }
        lines.append("ExecStart=" + execStart.map(Self.quote).joined(separator: " "))
        lines += service + ["", "[Install]", "WantedBy=multi-user.target", ""]
        return lines.joined(separator: "\n")
    }

    /// An argument as systemd reads it: double-quoted, with `\` and `"` escaped and the
    /// specifier and variable characters (`%`, `$`) doubled.
    static func quote(_ argument: String) -> String {
        let escaped = argument.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "%", with: "%%").replacingOccurrences(of: "$", with: "$$")
        return "\"\(escaped)\""
    }

    /// Writes the unit (0644), checks it and enables it. A unit that `systemd-analyze verify`
    /// finds fault with is removed again and the error names what it said.
    public func install() async throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o644)
        } catch {
            throw ProvisionError("cannot write \(path): \(error.localizedDescription)")
        }
        if let fault = await Self.verify(path) {
            try? FileManager.default.removeItem(atPath: path)
            throw ProvisionError("the unit \(name) does not pass systemd-analyze verify: \(fault)")
        }
        try await SystemdService.run("enable", name)
    }

    /// What `systemd-analyze verify` says against the unit at `path` (it exits 0 on a line it
    /// ignores, so any word of it about the file is a fault); nil: nothing, or no such tool.
    public static func verify(_ path: String) async -> String? {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else { return nil }
        guard
            let outcome = try? await Subprocess.run(
                ["systemd-analyze", "verify", "--man=no", path], timeout: .seconds(60))
        else {
            return "systemd-analyze did not finish"
        }
        let file = URL(fileURLWithPath: path).lastPathComponent
        let said = (outcome.stderr + outcome.stdout).split(separator: "\n").filter { $0.contains(file) }
        guard outcome.succeeded, said.isEmpty else { return said.first.map(String.init) ?? outcome.lastErrorLine }
        return nil
    }

    /// Disables and removes a changeover's unit, if it wrote one.
    public static func remove(changeover: String) async throws {
        let name = name(changeover: changeover)
        let path = "\(directory)/\(name)"
        guard FileManager.default.fileExists(atPath: path) else { return }
        try? await SystemdService.run("disable", name)
        try FileManager.default.removeItem(atPath: path)
    }

    /// The unit this controller wrote whose server is the one `argument` names (its data
    /// directory or config file appears in ExecStart), if any.
    public static func written(naming argument: String) -> String? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".service") }.sorted().first { file in
            guard let text = try? String(contentsOfFile: "\(directory)/\(file)", encoding: .utf8) else { return false }
            return text.split(separator: "\n").contains { $0.hasPrefix("ExecStart=") && $0.contains(quote(argument)) }
        }
    }
}
