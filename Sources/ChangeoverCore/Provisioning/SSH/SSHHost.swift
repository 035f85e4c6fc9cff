import Foundation

/// A machine the ssh provisioner reaches: its name (what the config and `plan` call it), the
/// address its sshd and its servers listen on, labels (a zone…), and the directory under which
/// followers are made there.
public struct SSHHost: Sendable, Equatable {
    public var name: String
    public var address: String
    public var port: Int
    public var labels: [String: String]
    /// Where follower directories are made on this host; nil: the provisioner's `root`.
    public var root: String?
    /// Whether a follower made on this host gets a unit of its own; nil: the provisioner's `service`.
    public var service: FleetConfig.ProvisionerConfig.Service?

    public init(
        name: String, address: String, port: Int = 22, labels: [String: String] = [:], root: String? = nil,
        service: FleetConfig.ProvisionerConfig.Service? = nil
    ) {
        self.name = name
        self.address = address
        self.port = port
        self.labels = labels
        self.root = root
        self.service = service
    }
}

/// A remote command failed: the host could not be reached (transient: the retries try again), its
/// host key is not the known one (never transient), or the command itself failed.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var transient: Bool
}

/// How the controller logs in to its hosts: one OpenSSH connection per host, multiplexed
/// (`ControlMaster`, its socket under `controlDirectory`, kept 60 s after its last use), so a
/// remote command costs a round trip, not a handshake. Host keys are checked strictly against
/// `knownHosts` alone; no config file of this machine's user is read.
public struct SSHLogin: Sendable, Equatable {
    public var user: String
    public var identity: String
    public var knownHosts: String
    public var controlDirectory: String
    public var connectTimeout: Duration

    public init(
        user: String, identity: String, knownHosts: String, controlDirectory: String,
        connectTimeout: Duration = .seconds(5)
    ) {
        self.user = user
        self.identity = identity
        self.knownHosts = knownHosts
        self.controlDirectory = controlDirectory
        self.connectTimeout = connectTimeout
    }

    /// The ssh command line that runs `command` (a shell command line) on `host`.
    public func argv(_ host: SSHHost, _ command: String) -> [String] {
        let seconds = max(1, Int(connectTimeout.seconds.rounded(.up)))
        return [
            "ssh", "-F", "/dev/null", "-T",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts)",
            "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-i", identity,
            "-o", "ControlMaster=auto", "-o", "ControlPath=\(controlDirectory)/%C", "-o", "ControlPersist=60s",
            "-o", "ConnectTimeout=\(seconds)", "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3",
            "-o", "LogLevel=ERROR", "-p", String(host.port), "-l", user, host.address, "--", command,
        ]
    }

    /// Runs `script` with `sh -c` (or `shell -c`) on `host`, `stdin` fed to it (how secrets travel: never on a
    /// command line). A host that cannot be reached is a transient `SSHError`; a host key that
    /// is not the known one is a final one naming the host and the key it offered. The
    /// command's own failure is in the outcome.
    public func run(
        _ host: SSHHost, _ script: String, stdin: Data? = nil, shell: String = "sh", timeout: Duration,
        onOutput: (@Sendable (String) -> Void)? = nil
    ) async throws(SSHError) -> Subprocess.Outcome {
        do {
            try LocalFiles.makeDirectory(controlDirectory, owner: nil, mode: 0o700)
        } catch {
            throw SSHError(description: "cannot create \(controlDirectory): \(error)", transient: false)
        }
        let outcome: Subprocess.Outcome
        do {
            outcome = try await Subprocess.run(
                argv(host, "\(shell) -c \(Shell.quote(script))"), stdin: stdin, timeout: timeout,
                onOutput: onOutput)
        } catch {
            throw SSHError(description: "host \(host.name) (\(host.address)): \(error.description)", transient: true)
        }
        return try await classify(outcome, host)
    }

    /// Starts `script` with `shell -c` on `host` and returns at once; the caller writes to its
    /// stdin and finishes it with `finish(_:_:timeout:)`, which reports ssh's own failures as
    /// `run` does.
    public func start(_ host: SSHHost, _ script: String, shell: String = "sh") throws(SSHError) -> Subprocess.Started {
        do {
            try LocalFiles.makeDirectory(controlDirectory, owner: nil, mode: 0o700)
            return try Subprocess.Started(argv(host, "\(shell) -c \(Shell.quote(script))"))
        } catch {
            throw SSHError(description: "host \(host.name) (\(host.address)): \(error)", transient: true)
        }
    }

    /// Waits for a command `start` started on `host`, as `run` would.
    public func finish(_ started: Subprocess.Started, _ host: SSHHost, timeout: Duration) async throws(SSHError)
        -> Subprocess.Outcome
    {
        let outcome: Subprocess.Outcome
        do {
            outcome = try await started.finish(timeout: timeout)
        } catch {
            throw SSHError(description: "host \(host.name) (\(host.address)): \(error.description)", transient: true)
        }
        return try await classify(outcome, host)
    }

    /// Status 255 is ssh's own failure (the command's status otherwise): a host key that is
    /// not the known one, a login refused, or a host that cannot be reached.
    private func classify(_ outcome: Subprocess.Outcome, _ host: SSHHost) async throws(SSHError) -> Subprocess.Outcome {
        guard outcome.status == 255 else { return outcome }
        let said = outcome.stderr
        if said.contains("Host key verification failed") || said.contains("HOST IDENTIFICATION HAS CHANGED")
            || said.contains("No ") && said.contains("host key is known")
        {
            let offered = await Self.fingerprint(host)
            throw SSHError(
                description: "host \(host.name) (\(host.address)): its host key is not the one in \(knownHosts)"
                    + (offered.map { "; it offers \($0)" } ?? "") + "; nothing was done there", transient: false)
        }
        if said.contains("Permission denied") {
            throw SSHError(
                description: "host \(host.name) (\(host.address)): login as \(user) with \(identity) refused",
                transient: false)
        }
        throw SSHError(
            description: "cannot reach host \(host.name) (\(host.address)): \(outcome.lastErrorLine)", transient: true)
    }

    /// Runs `script` and returns its stdout; a non-zero status is an error carrying its last line.
    public func output(_ host: SSHHost, _ script: String, stdin: Data? = nil, timeout: Duration, doing what: String)
        async throws -> String
    {
        let outcome = try await run(host, script, stdin: stdin, timeout: timeout)
        guard outcome.succeeded else {
            throw ProvisionError(
                "\(what) on host \(host.name) failed: \(outcome.lastErrorLine.isEmpty ? "status \(outcome.status)" : outcome.lastErrorLine)"
            )
        }
        return outcome.stdout
    }

    /// The key `host` offers, as ssh prints fingerprints (`ED25519 SHA256:…`).
    static func fingerprint(_ host: SSHHost) async -> String? {
        guard
            let scan = try? await Subprocess.run(
                ["ssh-keyscan", "-T", "5", "-t", "ed25519,ecdsa,rsa", "-p", String(host.port), host.address],
                timeout: .seconds(10)),
            let line = scan.stdout.split(separator: "\n").first(where: { !$0.hasPrefix("#") }),
            let printed = try? await Subprocess.run(
                ["ssh-keygen", "-l", "-f", "-"], stdin: Data((line + "\n").utf8), timeout: .seconds(10)),
            printed.succeeded
        else { return nil }
        // "256 SHA256:abc… 10.0.0.2 (ED25519)"
        let words = printed.stdout.split(separator: " ")
        guard words.count >= 2 else { return nil }
        return "\(words.last.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "()\n")) } ?? "") \(words[1])"
    }
}

/// Quoting for POSIX shells.
public enum Shell {
    /// `word` as one single-quoted word.
    public static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    public static func join(_ argv: [String]) -> String { argv.map(quote).joined(separator: " ") }
}
