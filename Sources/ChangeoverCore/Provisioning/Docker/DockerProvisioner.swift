import Foundation
import PostgresClient

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Makes followers as containers through the Docker Engine API: the new image's tag, the host's
/// network (every server listens on its own loopback port, see docker/README.md), a named volume
/// of its own. The database's primary runs in a container too (`container:` in the config); it is
/// fenced, read and restarted through the API.
///
/// A Postgres follower is seeded inside its container: the image's entrypoint in `standby` mode
/// runs `pg_basebackup -R -X stream` through the changeover's slot from `PRIMARY_CONNINFO`
/// (application_name = the slot's name, so catch-up finds it in pg_stat_replication), then
/// starts the standby. A Redis replica's redis.conf and ACL file are written into its volume by
/// the container itself from its environment, so no password is on a command line.
///
/// What it makes — the follower `changeover-<id>` (container and volume of that name) and
/// one-shot probes — carries `org.changeover.changeover=<id>`, `org.changeover.database`,
/// `org.changeover.role` and the configured `labels`. Images are identified by their Id (the
/// sha256 of the image config): a "new" image with the primary's Id is refused.
public struct DockerProvisioner: Provisioner {
    public var client: DockerEngineClient
    public var database: String
    /// The container the primary runs in, as the config or the state store names it.
    public var primaryContainer: String?
    public var labels: [String: String]
    public var listenAddress: String

    public static let changeoverLabel = "org.changeover.changeover"
    public static let databaseLabel = "org.changeover.database"
    public static let roleLabel = "org.changeover.role"
    public static let portLabel = "org.changeover.port"

    public init(
        client: DockerEngineClient, database: String, primaryContainer: String?, labels: [String: String] = [:],
        listenAddress: String = "127.0.0.1"
    ) {
        self.client = client
        self.database = database
        self.primaryContainer = primaryContainer
        self.labels = labels
        self.listenAddress = listenAddress
    }

    func labels(changeover: String, role: String, port: Int? = nil) -> [String: String] {
        var all = labels
        all[Self.changeoverLabel] = changeover
        all[Self.databaseLabel] = database
        all[Self.roleLabel] = role
        if let port { all[Self.portLabel] = String(port) }
        return all
    }

    public func check(followerPort: Int?) async -> PreflightCheck {
        let version: (version: String, apiVersion: String)
        do {
            version = try await client.version()
        } catch {
            return PreflightCheck("provisioner", passed: false, "\(error)")
        }
        if let port = followerPort, !FreePort.isFree(port, host: listenAddress) {
            return PreflightCheck("provisioner", passed: false, "follower port \(port) on \(listenAddress) is in use")
        }
        // A fenced (Postgres) or retired (Redis) primary must stay down: the engine would start
        // a container with these policies again and it would take writes as a primary.
        if let name = primaryContainer {
            do {
                let container = try await client.container(name)
                guard container.running else {
                    return PreflightCheck(
                        "provisioner", passed: false,
                        "the primary's container \(name) is \(container.status), not running")
                }
                if ["always", "unless-stopped"].contains(container.restartPolicy) {
                    return PreflightCheck(
                        "provisioner", passed: false,
                        "the primary's container \(name) has restart policy \(container.restartPolicy): the engine would start the fenced primary again (docker update --restart=no \(name))"
                    )
                }
            } catch {
                return PreflightCheck("provisioner", passed: false, "\(error)")
            }
        }
        return PreflightCheck(
            "provisioner", passed: true,
            "docker: engine \(version.version) (API \(version.apiVersion)) at \(client.socketPath)"
                + (followerPort.map { ", port \($0)" } ?? ""))
    }

    public func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String {
        let name = DockerNames.follower(changeover: changeover)
        return "in container \(name) (volume \(name), host network)"
    }

    // MARK: images

    static func short(_ id: String) -> String {
        id.hasPrefix("sha256:") ? "sha256:" + id.dropFirst(7).prefix(12) : String(id.prefix(19))
    }

    static func describe(_ image: DockerImage, as reference: String) -> String {
        "\(reference) (\(short(image.id))\(image.libc6.map { ", libc6 \($0)" } ?? ""))"
    }

    /// The primary's container and the image it runs.
    func primary() async throws -> (container: DockerContainer, image: DockerImage) {
        guard let name = primaryContainer else {
            throw ProvisionError("the database \(database) names no container (container: NAME)")
        }
        let container = try await client.container(name)
        return (container, try await client.image(container.image))
    }

    func newImage(_ image: FleetConfig.Image) async throws -> (reference: String, image: DockerImage) {
        guard let reference = image.docker else { throw ProvisionError("image \(image.name) has no docker.image") }
        return (reference, try await client.image(reference))
    }

    /// The new image must not be the one the primary's container runs, whatever the tags say.
    public func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        do {
            let (container, current) = try await primary()
            let (reference, new) = try await newImage(to)
            guard new.id != current.id else {
                return PreflightCheck(
                    "new image", passed: false,
                    "the primary's container \(container.name) already runs \(Self.describe(new, as: reference)): the new image is not different"
                )
            }
            return PreflightCheck(
                "new image", passed: true,
                "\(Self.describe(current, as: container.imageReference)) → \(Self.describe(new, as: reference))")
        } catch {
            return PreflightCheck("new image", passed: false, "\(error)")
        }
    }

    /// The new image is in the engine and runs the server: its version, from a one-shot container.
    public func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?) {
        do {
            let (reference, new) = try await newImage(to)
            let server = engine == .postgres ? "postgres" : "redis-server"
            let result = try await client.run(
                "changeover-probe-\(UUID().uuidString.prefix(8).lowercased())",
                DockerContainerSpec(
                    image: new.id, command: ["--version"], entrypoint: [server],
                    labels: labels(changeover: "", role: "probe"), networkMode: "none"),
                timeout: .seconds(60))
            let version = Self.version(in: result.stdout, server: server)
            let name = engine == .postgres ? "PostgreSQL" : "Redis"
            return (
                [
                    PreflightCheck(
                        "image \(to.name)", passed: result.exitCode == 0 && version != nil,
                        version.map { "\(Self.describe(new, as: reference)): \(name) \($0)" }
                            ?? "\(reference): \(server) --version failed: \(result.lastErrorLine)")
                ], version
            )
        } catch {
            return ([PreflightCheck("image \(to.name)", passed: false, "\(error)")], nil)
        }
    }

    /// "postgres (PostgreSQL) 15.20 (Debian …)" → "15.20"; "Redis server v=7.0.15 sha=…" → "7.0.15".
    static func version(in text: String, server: String) -> String? {
        if server == "redis-server" {
            guard let range = text.range(of: "v=") else { return nil }
            return text[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        return text.split(whereSeparator: \.isWhitespace).first { word in
            word.first?.isNumber == true && word.contains(".") && word.allSatisfy { $0.isNumber || $0 == "." }
        }.map(String.init)
    }

    /// Tag (as the container was made from it, and as configured), image Id, libc6 of both.
    public func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts {
        let (container, current) = try await primary()
        let (reference, new) = try await newImage(to)
        guard new.id != current.id else {
            throw ProvisionError(
                "the new image \(reference) is the one the primary's container \(container.name) runs (\(Self.short(new.id)))"
            )
        }
        return [
            "image.from.tag": container.imageReference, "image.from.id": current.id,
            "image.from.libc6": current.libc6 ?? "unknown",
            "image.to.tag": reference, "image.to.id": new.id, "image.to.libc6": new.libc6 ?? "unknown",
        ]
    }

    // MARK: Postgres

    public func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        do {
            let (container, _) = try await primary()
            guard container.running else {
                return PreflightCheck(
                    "primary container", passed: false,
                    "container \(container.name) is \(container.status), not running")
            }
            guard let mount = container.mount(at: dataDirectory) else {
                return PreflightCheck(
                    "primary container", passed: false,
                    "the primary's data directory \(dataDirectory) is not a volume of container \(container.name): its control data could not be read once it stops"
                )
            }
            let server = DockerPostgres(
                client: client, container: container.name, dataDirectory: dataDirectory, labels: labels)
            guard let pidFile = await server.pidFile(), pidFile.port.map(String.init) == port else {
                return PreflightCheck(
                    "primary container", passed: false,
                    "container \(container.name) does not run the server that listens on port \(port)")
            }
            return PreflightCheck(
                "primary container", passed: true,
                "container \(container.name), data directory \(dataDirectory) on \(mount.type) \(mount.name ?? mount.source)"
            )
        } catch {
            return PreflightCheck("primary container", passed: false, "\(error)")
        }
    }

    public func oldPrimaryFacts(dataDirectory: String) -> Facts {
        primaryContainer.map { ["old.container": $0] } ?? [:]
    }

    public func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let container = facts.oldContainer ?? primaryContainer, let dataDirectory = facts.oldDataDirectory
        else {
            throw EngineError("the old primary's container is unknown")
        }
        return DockerPostgres(client: client, container: container, dataDirectory: dataDirectory, labels: labels)
    }

    public func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let container = facts.followerContainer, let dataDirectory = facts["follower.pgdata"] else {
            throw EngineError("no follower was provisioned")
        }
        return DockerPostgres(client: client, container: container, dataDirectory: dataDirectory, labels: labels)
    }

    /// The follower's container runs and its server is up: learn its port from its labels.
    public func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        let name = DockerNames.follower(changeover: changeover)
        guard let container = try await client.containerIfExists(name), container.running,
            let port = container.labels[Self.portLabel].flatMap(Int.init)
        else { return nil }
        let pgdata = try await dataDirectory(of: image)
        let server = DockerPostgres(client: client, container: name, dataDirectory: pgdata, labels: labels)
        guard let pidFile = await server.pidFile(), pidFile.status == "ready" || pidFile.status == "standby" else {
            return nil
        }
        return Follower(
            host: listenAddress, port: port,
            facts: [
                "follower.container": name, "follower.volume": name, "follower.pgdata": pgdata,
                "follower.image.id": container.image,
            ])
    }

    /// PGDATA of the image (the official images' and ours: /var/lib/postgresql/data).
    func dataDirectory(of image: FleetConfig.Image) async throws -> String {
        try await newImage(image).image.environment("PGDATA") ?? "/var/lib/postgresql/data"
    }

    public func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port fixedPort: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower {
        let name = DockerNames.follower(changeover: changeover)
        let (reference, new) = try await newImage(image)
        let pgdata = new.environment("PGDATA") ?? "/var/lib/postgresql/data"
        // What an interrupted attempt left: a half-made copy is not worth finishing.
        try await client.removeContainer(name)
        try await client.removeVolume(name)
        let port = fixedPort ?? FreePort.next(host: listenAddress)
        let followerLabels = labels(changeover: changeover, role: "follower", port: port)
        try await client.createVolume(name, labels: followerLabels)
        // pg_basebackup -R writes this into primary_conninfo: the walreceiver reports the slot
        // name as its application_name, which is how catch-up finds it in pg_stat_replication.
        let conninfo = source.with("password", nil).with("dbname", nil).with("replication", nil)
            .with("target_session_attrs", nil).with("application_name", slot)
        var environment = [
            "PRIMARY_CONNINFO=\(conninfo.connectionString)", "PRIMARY_SLOT_NAME=\(slot)", "PGCONNECT_TIMEOUT=10",
        ]
        if let password = source["password"] { environment.append("PGPASSWORD=\(password)") }
        let spec = DockerContainerSpec(
            image: reference,
            command: [
                "standby", "-p", String(port), "-c", "listen_addresses=\(listenAddress)", "-c", "cluster_name=\(slot)",
                "-c", "hot_standby=on",
            ]
                + PostgresFollowerSettings.standby.sorted { $0.key < $1.key }.flatMap {
                    ["-c", "\($0.key)=\($0.value)"]
                },
            environment: environment, labels: followerLabels, stopSignal: "SIGINT", networkMode: "host",
            volumes: [(name, pgdata)])
        _ = try await client.createContainer(name, spec)
        let created = try await client.container(name)
        guard created.image == new.id else {
            throw ProvisionError(
                "\(reference) changed while the follower was made (\(Self.short(created.image)), not \(Self.short(new.id)))"
            )
        }
        let clock = ContinuousClock()
        let started = clock.now
        try await client.start(name)
        let server = DockerPostgres(client: client, container: name, dataDirectory: pgdata, labels: self.labels)
        let deadline = clock.now + timeout
        var lastReport = clock.now
        while true {
            if let file = await server.pidFile(), file.status == "ready" || file.status == "standby" { break }
            let inspected = try await client.container(name)
            if !inspected.running {
                let last =
                    (try? await client.logs(name, tail: 5))?.split(whereSeparator: \.isNewline).last.map(String.init)
                    ?? ""
                throw ProvisionError("the follower container \(name) exited (code \(inspected.exitCode)): \(last)")
            }
            guard clock.now < deadline else {
                throw ProvisionError("the follower container \(name) was not ready within \(timeout.seconds) s")
            }
            if clock.now - lastReport >= .seconds(1) {
                lastReport = clock.now
                let copied = (try? await server.dataMount())?.hostPath.map(Subprocess.directoryBytes)
                progress(
                    "base backup in container \(name)" + (copied.map { ": \($0 / 1024) kB" } ?? "")
                        + String(format: ", %.0f s", (clock.now - started).seconds))
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let seconds = (clock.now - started).seconds
        let bytes = (try? await server.dataMount())?.hostPath.map(Subprocess.directoryBytes)
        progress(
            "follower container \(name) streams" + (bytes.map { ", \($0 / 1024) kB copied" } ?? "")
                + String(format: " in %.2f s", seconds))
        var facts: Facts = [
            "follower.container": name, "follower.volume": name, "follower.pgdata": pgdata, "follower.image.id": new.id,
        ]
        facts.basebackupSeconds = seconds
        facts.basebackupBytes = bytes
        return Follower(host: listenAddress, port: port, facts: facts)
    }

    public func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    {
        try await removeFollower(changeover)
    }

    /// The container and volume of a changeover's follower, killed (it is thrown away) and removed.
    func removeFollower(_ changeover: String) async throws {
        let name = DockerNames.follower(changeover: changeover)
        try await client.removeContainer(name, force: true)
        try await client.removeVolume(name)
    }

    /// A container this controller made (a follower of an earlier changeover) is removed with its
    /// volume; anything else stays stopped for its owner.
    public func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String {
        try await retireOldContainer(facts) ?? "the old primary's container stays stopped; it is left to its owner"
    }

    func retireOldContainer(_ facts: Facts) async throws -> String? {
        guard let name = facts.oldContainer else { return nil }
        guard let container = try await client.containerIfExists(name) else {
            return "container \(name) is already gone"
        }
        guard container.labels[Self.changeoverLabel] != nil else {
            return "container \(name) stays stopped; it is left to its owner"
        }
        if container.running { try await client.wait(name, timeout: .seconds(30)) }
        try await client.removeContainer(name, force: false)
        let volumes = container.mounts.compactMap { $0.type == "volume" ? $0.name : nil }
        for volume in volumes { try await client.removeVolume(volume) }
        return "removed container \(name)" + (volumes.isEmpty ? "" : " and volume \(volumes.joined(separator: ", "))")
    }

    // MARK: Redis

    public func runningRedisFollower(changeover: String) async throws -> Follower? {
        let name = DockerNames.follower(changeover: changeover)
        guard let container = try await client.containerIfExists(name), container.running,
            let port = container.labels[Self.portLabel].flatMap(Int.init), FreePort.accepts(port, host: listenAddress)
        else { return nil }
        return Follower(
            host: listenAddress, port: port,
            facts: ["follower.container": name, "follower.volume": name, "follower.image.id": container.image])
    }

    /// The container writes its redis.conf (and ACL file) into its volume from its environment
    /// on first start only (a later start keeps what CONFIG REWRITE saved), then runs redis-server
    /// on it as the image's redis user.
    static let redisScript = """
        umask 077
        [ -e "$REDIS_DATA/redis.conf" ] || printf '%s' "$CHANGEOVER_REDIS_CONF" >"$REDIS_DATA/redis.conf"
        [ -z "$CHANGEOVER_REDIS_ACL" ] || [ -e "$REDIS_DATA/users.acl" ] || printf '%s' "$CHANGEOVER_REDIS_ACL" >"$REDIS_DATA/users.acl"
        unset CHANGEOVER_REDIS_CONF CHANGEOVER_REDIS_ACL
        exec redis-server "$REDIS_DATA/redis.conf"
        """

    public func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port fixedPort: Int?,
        settings: [(String, String)], acl: String?, primaryConfigFile: String?, primaryBind: String?, timeout: Duration
    ) async throws -> Follower {
        let name = DockerNames.follower(changeover: changeover)
        let (reference, new) = try await newImage(image)
        let data = new.environment("REDIS_DATA") ?? "/data"
        try await client.removeContainer(name)
        try await client.removeVolume(name)
        let port = fixedPort ?? FreePort.next(host: listenAddress)
        let followerLabels = labels(changeover: changeover, role: "follower", port: port)
        try await client.createVolume(name, labels: followerLabels)
        var lines = ["port \(port)", "bind \(listenAddress)", "daemonize no", "dir \(LocalRedis.quote(data))"]
        lines += settings.map { "\($0.0) \($0.1)" }
        if acl != nil { lines.append("aclfile \(LocalRedis.quote("\(data)/users.acl"))") }
        let spec = DockerContainerSpec(
            image: reference, command: ["sh", "-c", Self.redisScript],
            environment: [
                "REDIS_DATA=\(data)", "CHANGEOVER_REDIS_CONF=" + lines.joined(separator: "\n") + "\n",
                "CHANGEOVER_REDIS_ACL=\(acl ?? "")",
            ],
            labels: followerLabels, networkMode: "host", volumes: [(name, data)])
        _ = try await client.createContainer(name, spec)
        try await client.start(name)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !FreePort.accepts(port, host: listenAddress) {
            let inspected = try await client.container(name)
            if !inspected.running {
                let last =
                    (try? await client.logs(name, tail: 5))?.split(whereSeparator: \.isNewline).last.map(String.init)
                    ?? ""
                throw ProvisionError("the follower container \(name) exited (code \(inspected.exitCode)): \(last)")
            }
            guard clock.now < deadline else {
                throw ProvisionError(
                    "redis-server in container \(name) did not listen on \(listenAddress):\(port) within \(timeout.seconds) s"
                )
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return Follower(
            host: listenAddress, port: port,
            facts: ["follower.container": name, "follower.volume": name, "follower.image.id": new.id])
    }

    public func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool {
        (try? await client.container(DockerNames.follower(changeover: changeover)).running) ?? false
    }

    public func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        try await removeFollower(changeover)
    }

    public func retireOldRedis(_ facts: Facts) async throws -> String? {
        try await retireOldContainer(facts)
    }
}
