import ChangeoverCore
import ChangeoverLab
import Foundation
import Testing

/// `examples/changeover-daemon.service` is a unit systemd accepts as it is.
@Suite struct ServiceUnitTests {
    static let analyze = "/usr/bin/systemd-analyze"

    /// `systemd-analyze verify` on the unit with its ExecStart pointing at the built binary (verify
    /// wants the program to exist): no error, and no warning about the unit (an unknown key
    /// is only a warning to systemd, so the output is read too).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: analyze)))
    func theExampleUnitPassesSystemdVerify() async throws {
        let directory = NSTemporaryDirectory() + "changeover-unit-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let unit = try String(
            contentsOf: CheckCLITests.repository.appendingPathComponent("examples/changeover-daemon.service"),
            encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/changeover daemon "))
        #expect(unit.contains("Type=exec") || unit.contains("Type=notify"))
        for option in [
            "ProtectSystem=strict", "NoNewPrivileges=yes",
            "ReadWritePaths=/var/lib/changeover /var/lib/changeover-nodes",
        ] {
            #expect(unit.contains("\n\(option)\n"), "the unit lacks \(option)")
        }
        // The example config's state directory and follower root are the ones the unit lets it write.
        let example = try String(
            contentsOf: CheckCLITests.repository.appendingPathComponent("examples/fleet.yaml"), encoding: .utf8)
        #expect(
            example.contains("stateDirectory: /var/lib/changeover ")
                && example.contains("root: /var/lib/changeover-nodes "))
        let path = "\(directory)/changeover-daemon.service"
        try unit.replacingOccurrences(of: "/usr/local/bin/changeover", with: CLI.executable).write(
            toFile: path, atomically: true, encoding: .utf8)
        let verify = try await Subprocess.run([Self.analyze, "verify", "--man=no", path], timeout: .seconds(60))
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let about = (verify.stdout + verify.stderr).split(separator: "\n").filter {
            $0.contains("changeover-daemon.service")
        }
        #expect(about.isEmpty, "\(about)")

        // The check above can fail: the same unit with a misspelt key is reported.
        try unit.replacingOccurrences(of: "/usr/local/bin/changeover", with: CLI.executable)
            .replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystm=strict").write(
                toFile: path, atomically: true, encoding: .utf8)
        let misspelt = try await Subprocess.run([Self.analyze, "verify", "--man=no", path], timeout: .seconds(60))
        #expect((misspelt.stdout + misspelt.stderr).contains("Unknown key 'ProtectSystm'"))
    }
}
