import ChangeoverCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A test host reached over ssh: a network namespace (`LabNetworkHost`) with an `sshd` of its
/// own on the host's address, a per-host host key, the lab's client key authorized, and a
/// directory of its own (`root`: its home, and where followers are made on it). The file system
/// is this machine's; the provisioner touches the host's directory only through ssh. Hosts reach
/// each other through this machine, which forwards between their links while the lab has
/// ssh hosts.
public struct LabSSHHost: Sendable {
    public let name: String
    public let network: LabNetworkHost
    /// The host's own directory: `home/` (the login's HOME) and `nodes/`.
    public let root: String
    public var address: String { network.address }
    public var nodes: String { "\(root)/nodes" }
    /// The host key's public half, as known_hosts lists it after the address.
    public let hostKey: String

    /// The lab's client key and known_hosts file, which every ssh host of the lab trusts and lists.
    public static func identity(lab: Lab) -> String { "\(lab.root)/ssh/id_ed25519" }
    public static func knownHosts(lab: Lab) -> String { "\(lab.root)/ssh/known_hosts" }

    /// Makes the namespace, starts its sshd, and adds it to the lab's known_hosts.
    public static func create(lab: Lab, name: String) async throws -> LabSSHHost {
        let network = try await lab.makeNetworkHost()
        try await forward(lab: lab, through: network)
        let root = "\(lab.root)/hosts/\(name)"
        for directory in [root, "\(root)/home", "\(root)/nodes", "\(lab.root)/ssh"] {
            try LocalFiles.makeDirectory(directory, owner: nil, mode: 0o755)
        }
        let identity = Self.identity(lab: lab)
        if !FileManager.default.fileExists(atPath: identity) { try await keygen(identity) }
        try await keygen("\(root)/ssh_host_ed25519_key")
        let hostKey = try String(contentsOfFile: "\(root)/ssh_host_ed25519_key.pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        try FileManager.default.copyItem(atPath: "\(identity).pub", toPath: "\(root)/authorized_keys")
        try append("\(network.address) \(hostKey)\n", to: knownHosts(lab: lab))
        // HOME is the host's own: root's shell startup files on this machine are slow to run.
        let config = """
            ListenAddress \(network.address)
            Port 22
            HostKey \(root)/ssh_host_ed25519_key
            AuthorizedKeysFile \(root)/authorized_keys
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            UseDNS no
            PrintMotd no
            PrintLastLog no
            X11Forwarding no
            MaxSessions 64
            MaxStartups 64
            PidFile \(root)/sshd.pid
            SetEnv HOME=\(root)/home

            """
        try config.write(toFile: "\(root)/sshd_config", atomically: true, encoding: .utf8)
        try LocalFiles.makeDirectory("/run/sshd", owner: nil, mode: 0o755)
        _ = try Subprocess.spawn(
            network.argv(["/usr/sbin/sshd", "-D", "-e", "-f", "\(root)/sshd_config"]),
            outputPath: "\(root)/sshd.log", newSession: true)
        let deadline = ContinuousClock.now + .seconds(10)
        while !FreePort.accepts(22, host: network.address) {
            guard ContinuousClock.now < deadline else {
                let log = (try? String(contentsOfFile: "\(root)/sshd.log", encoding: .utf8)) ?? ""
                throw LabError("sshd on \(network.address) did not start: \(log.suffix(400))")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return LabSSHHost(name: name, network: network, root: root, hostKey: hostKey)
    }

    /// Gives the host a route to the others through this machine, and lets this machine forward
    /// (the setting it had is put back by the lab's shutdown).
    private static func forward(lab: Lab, through network: LabNetworkHost) async throws {
        let setting = "/proc/sys/net/ipv4/ip_forward"
        let saved = "\(lab.root)/ip_forward.before"
        if !FileManager.default.fileExists(atPath: saved) {
            try FileManager.default.copyItem(atPath: setting, toPath: saved)
        }
        try "1\n".write(toFile: setting, atomically: false, encoding: .utf8)
        let added = try await Subprocess.run(
            [LabNetworkHost.ipTool, "-n", network.name, "route", "add", "default", "via", network.hostAddress],
            timeout: .seconds(10))
        guard added.succeeded else {
            throw LabError("cannot route \(network.name) through \(network.hostAddress): \(added.stderr)")
        }
    }

    /// Puts back the forwarding setting the lab found.
    static func restoreForwarding(lab: Lab) {
        let saved = "\(lab.root)/ip_forward.before"
        guard let before = try? String(contentsOfFile: saved, encoding: .utf8) else { return }
        try? before.write(toFile: "/proc/sys/net/ipv4/ip_forward", atomically: false, encoding: .utf8)
    }

    private static func keygen(_ path: String) async throws {
        let made = try await Subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "changeover lab", "-f", path],
            timeout: .seconds(30))
        guard made.succeeded else { throw LabError("ssh-keygen failed: \(made.stderr)") }
    }

    private static func append(_ text: String, to path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        handle.write(Data(text.utf8))
    }

    /// Gives the host a new host key (its sshd restarted with it), as a reinstalled machine
    /// would have: the lab's known_hosts still lists the old one.
    public func replaceHostKey() async throws {
        let key = "\(root)/ssh_host_ed25519_key"
        try? FileManager.default.removeItem(atPath: key)
        try? FileManager.default.removeItem(atPath: "\(key).pub")
        try await Self.keygen(key)
        if let pid = (try? String(contentsOfFile: "\(root)/sshd.pid", encoding: .utf8)).flatMap({
            pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }) {
            kill(pid, SIGHUP)  // sshd re-execs itself and reads its host keys again
        }
        try await Task.sleep(for: .milliseconds(300))
    }
}
