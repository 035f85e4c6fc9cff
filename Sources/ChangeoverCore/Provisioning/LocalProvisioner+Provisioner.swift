#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import PostgresClient

/// The local provisioner's side of the engines: servers on this host, images as bin directories.
extension LocalProvisioner: Provisioner {
    public func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String {
        let node = nodeDirectory(for: changeover)
        return engine == .postgres ? "in \(node)/data" : "in \(node)"
    }

    // MARK: images

    /// Images are names here: two names are two images.
    public func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        PreflightCheck("new image", passed: from.name != to.name,
                       from.name != to.name ? "\(from.name) → \(to.name)" : "the database already runs \(to.name)")
    }

    public func imageChecks(from: FleetConfig.Image, to: FleetConfig.Image,
                            engine: DatabaseConfig.EngineKind) async -> (checks: [PreflightCheck], newVersion: String?) {
        switch engine {
        case .postgres:
            var checks: [PreflightCheck] = []
            var newVersion: String?
            for image in Set([from.name, to.name]).sorted() {
                let spec = image == to.name ? to : from
                let missing = Self.requiredBinaries(.postgres).filter { !FileManager.default.isExecutableFile(atPath: "\(spec.binDirectory)/\($0)") }
                if !missing.isEmpty {
                    checks.append(PreflightCheck("image \(spec.name)", passed: false,
                                                 "bin directory \(spec.binDirectory) lacks \(missing.joined(separator: ", "))"))
                } else if image == to.name {
                    newVersion = await Self.version(of: spec, server: "postgres")
                    checks.append(PreflightCheck("image \(spec.name)", passed: newVersion != nil,
                                                 newVersion.map { "\(spec.binDirectory): PostgreSQL \($0)" }
                                                     ?? "\(spec.binDirectory)/postgres --version failed"))
                }
            }
            return (checks, newVersion)
        case .redis:
            let newVersion = await Self.version(of: to, server: "redis-server")
            return ([PreflightCheck("image \(to.name)", passed: newVersion != nil,
                                    newVersion.map { "\(to.binDirectory): Redis \($0)" }
                                        ?? "bin directory \(to.binDirectory) lacks a working redis-server")], newVersion)
        }
    }

    public func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts { [:] }

    /// What an image's bin directory must hold for this provisioner to run `engine`'s servers.
    public static func requiredBinaries(_ engine: DatabaseConfig.EngineKind) -> [String] {
        switch engine {
        case .postgres: ["postgres", "pg_basebackup", "pg_controldata"]
        case .redis: ["redis-server"]
        }
    }

    /// `postgres --version` → "15.20", `redis-server --version` → "7.0.15".
    static func version(of image: FleetConfig.Image, server: String) async -> String? {
        guard let outcome = try? await Subprocess.run(["\(image.binDirectory)/\(server)", "--version"],
                                                      environment: image.environment, timeout: .seconds(10)),
              outcome.succeeded
        else { return nil }
        if server == "redis-server" {
            guard let range = outcome.stdout.range(of: "v=") else { return nil }
            return outcome.stdout[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the first word that is a version.
        return outcome.stdout.split(whereSeparator: \.isWhitespace).first { $0.first?.isNumber == true }.map(String.init)
    }

    // MARK: Postgres

    public func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        let local = LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs)
        let pidFile = local.pidFile()
        let isLocal = pidFile?.port.map(String.init) == port && pidFile.map { Subprocess.isAlive($0.pid) } == true
        return PreflightCheck("primary on this host", passed: isLocal,
                              isLocal ? "data directory \(dataDirectory), postmaster pid \(pidFile!.pid)"
                                  : "the primary's data directory \(dataDirectory) is not a running server on this host; the local provisioner can only fence a local primary")
    }

    /// A primary running in a named network namespace is restarted there on rollback.
    public func oldPrimaryFacts(dataDirectory: String) -> Facts {
        let server = LocalPostgres(binDirectory: "", dataDirectory: dataDirectory, runAs: nil)
        guard let pid = server.pidFile()?.pid, let namespace = NetworkNamespace.name(ofProcess: pid) else { return [:] }
        return ["old.netns": namespace]
    }

    public func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts["old.dataDirectory"] else {
            throw EngineError("the old primary's data directory is unknown")
        }
        return LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs,
                             environment: image.environment, networkNamespace: facts["old.netns"])
    }

    public func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts["follower.dataDirectory"] else { throw EngineError("no follower was provisioned") }
        return LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs,
                             environment: image.environment)
    }

    /// The node's server runs: learn its port and PID from its postmaster.pid.
    public func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        let cluster = madeCluster(changeover: changeover)
        let existing = LocalPostgres(binDirectory: image.binDirectory,
                                     dataDirectory: cluster?.defaultDataDirectory ?? "\(nodeDirectory(for: changeover))/data", runAs: runAs)
        guard existing.isRunning, let pidFile = existing.pidFile(), let port = pidFile.port else { return nil }
        var facts = ["follower.dataDirectory": existing.dataDirectory, "follower.pid": String(pidFile.pid)]
        facts["follower.cluster"] = cluster?.description
        return Follower(host: followerHost, port: port, facts: facts)
    }

    /// The cluster this changeover's follower was made (its node says so), if it was one.
    func madeCluster(changeover: String) -> DebianCluster? {
        (try? String(contentsOfFile: "\(nodeDirectory(for: changeover))/cluster", encoding: .utf8)).flatMap(DebianCluster.init(id:))
    }

    /// A primary that is a `postgresql-common` cluster is set to start by hand only.
    public func disableOldPostgresService(_ facts: Facts) async throws -> String? {
        guard let cluster = facts["old.cluster"].flatMap(DebianCluster.init(id:)) else { return nil }
        try cluster.setStartMode("manual")
        return "cluster \(cluster) no longer starts at boot (start.conf manual)"
    }

    public func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration) async throws {
        let cluster = madeCluster(changeover: changeover)
        if let dataDirectory = facts["follower.dataDirectory"] ?? cluster?.defaultDataDirectory {
            let follower = LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs)
            try await follower.stop(timeout: timeout, signal: SIGQUIT)
        }
        if let cluster { await dropCluster(cluster) }
        try removeNode(changeover: changeover)
    }

    /// A node this controller made is removed; anything else is left on disk for its owner.
    public func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String {
        guard let dataDirectory = facts["old.dataDirectory"] else {
            throw EngineError("the old primary's data directory is unknown")
        }
        if dataDirectory.hasPrefix(root + "/") {
            let node = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path
            try? FileManager.default.removeItem(atPath: node)
            return "removed \(node), the stopped old primary's node"
        }
        return "the old primary stays stopped; its data directory \(dataDirectory) is left to its owner"
    }

    // MARK: Redis

    private func redisNode(_ changeover: String, image: FleetConfig.Image? = nil) -> LocalRedis {
        LocalRedis(binDirectory: image?.binDirectory ?? "", nodeDirectory: nodeDirectory(for: changeover), runAs: runAs,
                   environment: image?.environment ?? [:])
    }

    /// The node's redis-server runs: learn its port from its config file.
    public func runningRedisFollower(changeover: String) async throws -> Follower? {
        let node = redisNode(changeover)
        guard node.isRunning, let port = node.configuredPort else { return nil }
        return Follower(host: followerHost, port: port,
                        facts: ["follower.node": node.nodeDirectory, "follower.pid": node.pid.map(String.init) ?? ""])
    }

    public func createRedisFollower(changeover: String, image: FleetConfig.Image, port fixedPort: Int?,
                                    settings: [(String, String)], acl: String?, timeout: Duration) async throws -> Follower {
        let node = redisNode(changeover, image: image)
        try? await node.stop(timeout: .seconds(60), signal: SIGKILL)
        try LocalFiles.makeDirectory(root, owner: nil, mode: 0o755)
        var settings = settings
        if let acl {
            try node.makeNodeDirectory()
            let aclPath = "\(node.nodeDirectory)/users.acl"
            try node.writePrivateFile(aclPath, acl)
            settings.append(("aclfile", LocalRedis.quote(aclPath)))
        }
        let port = fixedPort ?? FreePort.next(host: listenAddress)
        let pid: pid_t
        do {
            pid = try await node.start(port: port, bind: listenAddress, settings: settings, timeout: timeout)
        } catch {
            throw startFailure(error.description, log: node.logPath, changeover: changeover)
        }
        return Follower(host: followerHost, port: port, facts: ["follower.node": node.nodeDirectory, "follower.pid": String(pid)])
    }

    /// Starts a stopped follower's redis-server again from its node's config file (after the
    /// changeover, the new primary's); returns its PID once it accepts connections.
    public func restartRedisFollower(changeover: String, image: FleetConfig.Image, timeout: Duration) async throws -> pid_t {
        try await redisNode(changeover, image: image).restart(timeout: timeout)
    }

    public func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool {
        redisNode(changeover).isRunning
    }

    public func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        try await redisNode(changeover).stop(timeout: timeout)
        try removeNode(changeover: changeover)
    }

    /// The old primary's files are its owner's.
    public func retireOldRedis(_ facts: Facts) async throws -> String? { nil }
}
