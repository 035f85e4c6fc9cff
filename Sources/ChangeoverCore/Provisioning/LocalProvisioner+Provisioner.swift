import Foundation
import PostgresClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The local provisioner's side of the engines: servers on this host, images as bin directories.
extension LocalProvisioner: Provisioner {
    public func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String {
        let node = nodeDirectory(for: changeover)
        return engine == .postgres ? "in \(node)/data" : "in \(node)"
    }

    // MARK: images

    /// Images are names here: two names are two images.
    public func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        PreflightCheck(
            "new image", passed: from.name != to.name,
            from.name != to.name ? "\(from.name) → \(to.name)" : "the database already runs \(to.name)")
    }

    public func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?) {
        switch engine {
        case .postgres:
            var checks: [PreflightCheck] = []
            var newVersion: String?
            for image in Set([from.name, to.name]).sorted() {
                let spec = image == to.name ? to : from
                let missing = Self.requiredBinaries(.postgres).filter {
                    !FileManager.default.isExecutableFile(atPath: "\(spec.binDirectory)/\($0)")
                }
                if !missing.isEmpty {
                    checks.append(
                        PreflightCheck(
                            "image \(spec.name)", passed: false,
                            "bin directory \(spec.binDirectory) lacks \(missing.joined(separator: ", "))"))
                } else if image == to.name {
                    newVersion = await Self.version(of: spec, server: "postgres")
                    checks.append(
                        PreflightCheck(
                            "image \(spec.name)", passed: newVersion != nil,
                            newVersion.map { "\(spec.binDirectory): PostgreSQL \($0)" }
                                ?? "\(spec.binDirectory)/postgres --version failed"))
                }
            }
            return (checks, newVersion)
        case .redis:
            let newVersion = await Self.version(of: to, server: "redis-server")
            return (
                [
                    PreflightCheck(
                        "image \(to.name)", passed: newVersion != nil,
                        newVersion.map { "\(to.binDirectory): Redis \($0)" }
                            ?? "bin directory \(to.binDirectory) lacks a working redis-server")
                ], newVersion
            )
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
        guard
            let outcome = try? await Subprocess.run(
                ["\(image.binDirectory)/\(server)", "--version"],
                environment: image.environment, timeout: .seconds(10)),
            outcome.succeeded
        else { return nil }
        if server == "redis-server" {
            guard let range = outcome.stdout.range(of: "v=") else { return nil }
            return outcome.stdout[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        // "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)": the first word that is a version.
        return outcome.stdout.split(whereSeparator: \.isWhitespace).first { $0.first?.isNumber == true }.map(
            String.init)
    }

    // MARK: Postgres

    public func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        let local = LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs)
        let pidFile = local.pidFile()
        let isLocal = pidFile?.port.map(String.init) == port && pidFile.map { Subprocess.isAlive($0.pid) } == true
        return PreflightCheck(
            "primary on this host", passed: isLocal,
            isLocal
                ? "data directory \(dataDirectory), postmaster pid \(pidFile!.pid)"
                : "the primary's data directory \(dataDirectory) is not a running server on this host; the local provisioner can only fence a local primary"
        )
    }

    /// A primary running in a named network namespace is restarted there on rollback; one
    /// started by a systemd unit has its unit disabled after the switchover.
    public func oldPrimaryFacts(dataDirectory: String) -> Facts {
        let server = LocalPostgres(binDirectory: "", dataDirectory: dataDirectory, runAs: nil)
        var facts: Facts = [:]
        let pid = server.pidFile()?.pid
        facts["old.netns"] = pid.flatMap(NetworkNamespace.name(ofProcess:))
        facts["old.unit"] =
            pid.flatMap(SystemdService.unit(ofProcess:)).flatMap { $0.hasPrefix("postgres") ? $0 : nil }
            ?? SystemdUnit.written(naming: dataDirectory)
        return facts
    }

    public func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts.oldDataDirectory else {
            throw EngineError("the old primary's data directory is unknown")
        }
        return LocalPostgres(
            binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs,
            environment: image.environment, networkNamespace: facts["old.netns"])
    }

    public func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts.followerDataDirectory else {
            throw EngineError("no follower was provisioned")
        }
        return LocalPostgres(
            binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs,
            environment: image.environment)
    }

    /// The node's server runs: learn its port and PID from its postmaster.pid.
    public func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        let cluster = madeCluster(changeover: changeover)
        let existing = LocalPostgres(
            binDirectory: image.binDirectory,
            dataDirectory: cluster?.defaultDataDirectory ?? "\(nodeDirectory(for: changeover))/data", runAs: runAs)
        guard existing.isRunning, let pidFile = existing.pidFile(), let port = pidFile.port else { return nil }
        var facts = ["follower.dataDirectory": existing.dataDirectory, "follower.pid": String(pidFile.pid)]
        facts["follower.cluster"] = cluster?.description
        return Follower(host: followerHost, port: port, facts: facts)
    }

    /// The cluster this changeover's follower was made (its node says so), if it was one.
    func madeCluster(changeover: String) -> DebianCluster? {
        (try? String(contentsOfFile: "\(nodeDirectory(for: changeover))/cluster", encoding: .utf8)).flatMap(
            DebianCluster.init(id:))
    }

    /// A primary that is a `postgresql-common` cluster is set to start by hand only; one that a
    /// systemd unit starts has its unit disabled.
    public func disableOldPostgresService(_ facts: Facts) async throws -> String? {
        var done: [String] = []
        if let cluster = facts.oldCluster.flatMap(DebianCluster.init(id:)) {
            try cluster.setStartMode("manual")
            done.append("cluster \(cluster) no longer starts at boot (start.conf manual)")
        }
        if let unit = facts["old.unit"], SystemdService.isInstalled {
            try await SystemdService.run("disable", unit)
            done.append("\(unit) no longer starts at boot")
        }
        return done.isEmpty ? nil : done.joined(separator: "; ")
    }

    public func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    {
        let cluster = madeCluster(changeover: changeover)
        if let dataDirectory = facts.followerDataDirectory ?? cluster?.defaultDataDirectory {
            let follower = LocalPostgres(binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs)
            try await follower.stop(timeout: timeout, signal: SIGQUIT)
        }
        if let cluster { await dropCluster(cluster) }
        try await SystemdUnit.remove(changeover: changeover)
        try removeNode(changeover: changeover)
    }

    /// A node this controller made is removed; anything else is left on disk for its owner.
    public func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String {
        guard let dataDirectory = facts.oldDataDirectory else {
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

    /// The node's server, where its files are: in the node, or those of the Debian instance it was made.
    private func redisNode(_ changeover: String, image: FleetConfig.Image? = nil) -> LocalRedis {
        let node = nodeDirectory(for: changeover)
        if let instance = madeRedisInstance(changeover: changeover) {
            return instance.server(
                binDirectory: image?.binDirectory ?? "", node: node, environment: image?.environment ?? [:])
        }
        return LocalRedis(
            binDirectory: image?.binDirectory ?? "", nodeDirectory: node, runAs: runAs,
            environment: image?.environment ?? [:])
    }

    /// The Debian instance this changeover's replica was made (its node says so), if it was one.
    func madeRedisInstance(changeover: String) -> DebianRedis? {
        (try? String(contentsOfFile: "\(nodeDirectory(for: changeover))/instance", encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.flatMap(DebianRedis.of(configFile:))
    }

    /// The node's redis-server runs: learn its port from its config file.
    public func runningRedisFollower(changeover: String) async throws -> Follower? {
        let node = redisNode(changeover)
        guard node.isRunning, let port = node.configuredPort else { return nil }
        var facts = ["follower.node": node.nodeDirectory, "follower.pid": node.pid.map(String.init) ?? ""]
        facts["follower.instance"] = madeRedisInstance(changeover: changeover)?.unit
        return Follower(host: followerHost, port: port, facts: facts)
    }

    public func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port fixedPort: Int?, settings: [(String, String)],
        acl: String?, primaryConfigFile: String?, primaryBind: String?, timeout: Duration
    ) async throws -> Follower {
        try? await redisNode(changeover, image: image).stop(timeout: .seconds(60), signal: SIGKILL)
        try LocalFiles.makeDirectory(root, owner: nil, mode: 0o755)
        let instance = try redisInstanceFor(changeover: changeover, primaryConfigFile: primaryConfigFile)
        var base: String?
        if let instance {
            try? await removeRedisInstance(instance)
            try LocalFiles.makeDirectory(nodeDirectory(for: changeover), owner: DebianRedis.user, mode: 0o700)
            try "\(instance.configFile)\n".write(
                toFile: "\(nodeDirectory(for: changeover))/instance", atomically: true, encoding: .utf8)
            // The primary's whole file (modules, renamed commands, limits), this instance's own lines after it.
            if let primaryConfigFile { base = try? String(contentsOfFile: primaryConfigFile, encoding: .utf8) }
        }
        let node = redisNode(changeover, image: image)
        var settings = settings
        if let acl {
            try node.makeNodeDirectory()
            let aclPath = instance?.aclFile ?? "\(node.nodeDirectory)/users.acl"
            try node.writePrivateFile(aclPath, acl)
            settings.append(("aclfile", LocalRedis.quote(aclPath)))
        }
        let listen = followerListen(primary: primaryBind)
        let port = fixedPort ?? FreePort.next(host: ListenAddresses.reachable(listen))
        let pid: pid_t
        do {
            pid = try await node.start(port: port, bind: listen, settings: settings, base: base, timeout: timeout)
        } catch {
            throw startFailure(error.description, log: node.logPath, changeover: changeover)
        }
        var facts = ["follower.node": node.nodeDirectory, "follower.pid": String(pid)]
        if service == .systemd, instance == nil {
            // Started directly now (as on a host where systemd is not PID 1), by its unit at boot.
            var unit = SystemdUnit(
                changeover: changeover,
                summary: "Redis server in \(node.nodeDirectory) (made by changeover \(changeover))",
                user: runAs,
                execStart: [
                    "\(image.binDirectory)/redis-server", node.configPath,
                    "--supervised", "systemd", "--daemonize", "no",
                ])
            unit.environment = image.environment
            unit.service = ["UMask=0077", "TimeoutStopSec=120"]
            try await unit.install()
            facts["follower.unit"] = unit.name
        }
        if let instance {
            // Started at boot from its own file, as the package starts its instances.
            try await SystemdService.run("enable", instance.unit)
            facts["follower.instance"] = instance.unit
        }
        return Follower(host: advertise ?? ListenAddresses.reachable(listen), port: port, facts: facts)
    }

    /// The Debian instance a replica is made, if it is one: with `service: auto` when the
    /// primary is one, always with `debian-cluster`, never with `none`.
    func redisInstanceFor(changeover: String, primaryConfigFile: String?) throws -> DebianRedis? {
        let primary = primaryConfigFile.flatMap(DebianRedis.of(configFile:))
        // The package's own instance has no name: its replicas are named for the database.
        let base = primary?.name ?? String(changeover.split(separator: "-").dropLast(3).joined(separator: "-"))
        switch service {
        case .none, .systemd:
            return nil
        case .auto:
            return primary.map { _ in DebianRedis(name: DebianCluster.followerName(base: base, changeover: changeover))
            }
        case .debianCluster:
            guard FileManager.default.fileExists(atPath: DebianRedis.configRoot),
                LocalFiles.ids(of: DebianRedis.user) != nil
            else {
                throw ProvisionError(
                    "provisioner.service is debian-cluster, but Debian's redis-server package (\(DebianRedis.configRoot), user redis) is not installed"
                )
            }
            return DebianRedis(name: DebianCluster.followerName(base: base, changeover: changeover))
        }
    }

    /// Removes what an instance this controller made leaves: its unit's symlink, its files.
    func removeRedisInstance(_ instance: DebianRedis) async throws {
        if SystemdService.isInstalled { try? await SystemdService.run("disable", instance.unit) }
        for file in [
            instance.configFile, instance.aclFile, "\(DebianRedis.dataDirectory)/\(instance.dumpFile)",
            instance.logFile,
            instance.runtimeDirectory,
        ] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.removeItem(atPath: file)
        }
    }

    /// Starts a stopped follower's redis-server again from its config file (after the
    /// changeover, the new primary's); returns its PID once it accepts connections.
    public func restartRedisFollower(changeover: String, image: FleetConfig.Image, timeout: Duration) async throws
        -> pid_t
    {
        try await redisNode(changeover, image: image).restart(timeout: timeout)
    }

    public func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool {
        redisNode(changeover).isRunning
    }

    public func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        try await redisNode(changeover).stop(timeout: timeout)
        if let instance = madeRedisInstance(changeover: changeover) { try await removeRedisInstance(instance) }
        try await SystemdUnit.remove(changeover: changeover)
        try removeNode(changeover: changeover)
    }

    /// An old primary that is a Debian instance of this host (its pid file names the process
    /// that served) no longer starts at boot: its replacement does.
    public func disableOldRedisService(_ facts: Facts) async throws -> String? {
        if let file = facts.oldConfigFile, let unit = SystemdUnit.written(naming: file), SystemdService.isInstalled {
            try await SystemdService.run("disable", unit)
            return "\(unit) no longer starts at boot"
        }
        guard let instance = facts.oldConfigFile.flatMap(DebianRedis.of(configFile:)), SystemdService.isInstalled,
            let pid = facts["old.pid"],
            (try? String(contentsOfFile: instance.pidFile, encoding: .utf8))?.trimmingCharacters(
                in: .whitespacesAndNewlines) == pid
        else { return nil }
        try await SystemdService.run("disable", instance.unit)
        return "\(instance.unit) no longer starts at boot"
    }

    /// The old primary's files are its owner's; where systemd runs, the unit of a Debian
    /// instance disabled at settle is stopped too (the package's units restart a server that exits).
    public func retireOldRedis(_ facts: Facts) async throws -> String? {
        guard facts.oldService != nil, let instance = facts.oldConfigFile.flatMap(DebianRedis.of(configFile:)),
            SystemdService.isRunning
        else { return nil }
        try await SystemdService.run("stop", instance.unit)
        return "\(instance.unit) stopped"
    }

    /// What `plan` says of the primary's layout and of the follower this provisioner will make.
    public func layoutCheck(_ layout: ServerLayout) async -> PreflightCheck? {
        switch layout {
        case .postgres(let layout):
            guard let layout else { return nil }
            let cluster = DebianCluster.of(configFile: layout.configFile)
            let primary =
                cluster.map {
                    "Debian cluster \($0) (configuration in \($0.configDirectory), start.conf \($0.startMode ?? "?"))"
                }
                ?? (layout.configurationOutside
                    ? "configuration in \(layout.configDirectory), outside the data directory"
                    : "configuration in its data directory \(layout.dataDirectory)")
            let follower: String
            switch (service, cluster) {
            case (.auto, .some(let cluster)), (.debianCluster, .some(let cluster)):
                follower =
                    "the follower becomes cluster \(cluster.version)/\(cluster.name)-STAMP, started at boot; \(cluster) starts by hand only after the switchover"
            case (.debianCluster, .none):
                follower = "the follower becomes a Debian cluster of its own, started at boot"
            case (.auto, .none), (.none, _), (.systemd, _):
                follower =
                    "the follower runs as a server process in its node"
                    + (layout.configurationOutside ? ", with a copy of that configuration" : "")
                    + (service == .systemd ? ", started at boot by a unit of its own (changeover-ID.service)" : "")
            }
            return PreflightCheck("layout", passed: true, "\(primary); \(follower)")
        case .redis(let configFile):
            let instance = configFile.flatMap(DebianRedis.of(configFile:))
            let primary =
                instance.map { "Debian instance \($0.unit) (\($0.configFile))" } ?? configFile.map {
                    "config file \($0)"
                }
                ?? "started without a config file"
            let follower: String
            switch (service, instance) {
            case (.auto, .some(let instance)), (.debianCluster, .some(let instance)):
                let base = instance.name.map { "redis-server@\($0)-STAMP" } ?? "redis-server@DATABASE-STAMP"
                follower =
                    "the replica becomes \(base).service with its own file in \(DebianRedis.configRoot), started at boot; \(instance.unit) is disabled after the switchover"
            case (.debianCluster, .none):
                follower = "the replica becomes a redis-server@ instance of its own, started at boot"
            case (.auto, .none), (.none, _), (.systemd, _):
                follower =
                    "the replica runs as a server process in its node"
                    + (service == .systemd ? ", started at boot by a unit of its own (changeover-ID.service)" : "")
            }
            return PreflightCheck("layout", passed: true, "\(primary); \(follower)")
        }
    }
}
