import Foundation
import PostgresClient
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Makes followers as processes on this host from an image's bin directory: the embedded
/// default, and what the tests use. Each changeover gets a node directory under `root`
/// holding the data directory, the server's unix socket and its log.
public struct LocalProvisioner: Sendable {
    public var root: String
    public var runAs: String?
    public var listenAddress: String
    /// Whether `listenAddress` was configured (`follower.listen`); if not, a follower listens
    /// where its primary does when this host can (`ListenAddresses.inherited`).
    public var listenConfigured: Bool

    /// Where the log of a follower that could not start is kept (the rollback removes its node);
    /// nil: not kept.
    public var keptLogs: String?
    /// How a Postgres follower is run: see `FleetConfig.ProvisionerConfig.Service`.
    public var service: FleetConfig.ProvisionerConfig.Service

    /// The host followers are reached at; nil: the listen address (127.0.0.1 for a wildcard).
    public var advertise: String?

    /// Where a follower is reached: the advertised host, else where it listens.
    public var followerHost: String {
        advertise ?? ListenAddresses.reachable(listenAddress)
    }

    public init(
        root: String, runAs: String?, listenAddress: String = "127.0.0.1", listenConfigured: Bool = true,
        advertise: String? = nil,
        keptLogs: String? = nil, service: FleetConfig.ProvisionerConfig.Service = .auto
    ) {
        self.listenConfigured = listenConfigured
        self.root = root
        self.runAs = runAs
        self.advertise = advertise
        self.listenAddress = listenAddress
        self.keptLogs = keptLogs
        self.service = service
    }

    /// Where a follower of a primary listening on `primary` listens.
    func followerListen(primary: String?) -> String {
        listenConfigured ? listenAddress : (ListenAddresses.inherited(primary) ?? listenAddress)
    }

    /// A follower that did not start: what it said last (its log's last 20 lines, in one line,
    /// passwords masked), and where its log is kept. The rollback removes the node and its log.
    func startFailure(_ failure: String, log: String, changeover: String) -> ProvisionError {
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let tail = text.split(whereSeparator: \.isNewline).suffix(20).map { $0.trimmingCharacters(in: .whitespaces) }
        var kept = log
        if let keptLogs {
            let path = "\(keptLogs)/\(changeover)-\(URL(fileURLWithPath: log).lastPathComponent)"
            try? LocalFiles.makeDirectory(keptLogs, owner: nil, mode: 0o700)
            try? FileManager.default.removeItem(atPath: path)
            if FileManager.default.createFile(
                atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
            {
                kept = path
            }
        }
        let said = ConfigError.maskingPasswords(in: tail.joined(separator: " | "))
        let what = failure.components(separatedBy: "; see ").first ?? failure
        return ProvisionError(
            "the follower did not start: \(what); its log (kept at \(kept)) ends: \(said.isEmpty ? "(empty)" : said)")
    }

    public func nodeDirectory(for changeover: String) -> String { "\(root)/\(changeover)" }

    /// Whether followers can be made here: the root is creatable, the user servers run as can
    /// reach it, and the port (if fixed) is free.
    public func check(followerPort: Int?) async -> PreflightCheck {
        var isDirectory: ObjCBool = false
        var probe = root
        while !FileManager.default.fileExists(atPath: probe, isDirectory: &isDirectory) {
            probe = URL(fileURLWithPath: probe).deletingLastPathComponent().path
        }
        guard isDirectory.boolValue, access(probe, W_OK) == 0 else {
            return PreflightCheck("provisioner", passed: false, "cannot create follower directories under \(root)")
        }
        if let runAs, getuid() == 0 {
            guard getpwnam(runAs) != nil else {
                return PreflightCheck(
                    "provisioner", passed: false, "servers run as \(runAs), but there is no such user")
            }
            // Asked of the kernel as that user: a node directory is the user's own and the root is
            // made 0755, but every directory above the root must let the user through.
            let above = probe == root ? URL(fileURLWithPath: root).deletingLastPathComponent().path : probe
            let reaches = try? await Subprocess.run(
                Subprocess.runAsPrefix(runAs) + ["test", "-x", above], timeout: .seconds(10))
            guard reaches?.succeeded == true else {
                return PreflightCheck(
                    "provisioner", passed: false,
                    "servers run as \(runAs), who cannot reach \(above): node directories go under \(root)")
            }
        }
        if let port = followerPort, !FreePort.isFree(port, host: listenAddress) {
            return PreflightCheck("provisioner", passed: false, "follower port \(port) on \(listenAddress) is in use")
        }
        return PreflightCheck(
            "provisioner", passed: true,
            "local: followers under \(root)" + (followerPort.map { ", port \($0)" } ?? ""))
    }

    /// Base-backs-up `source` through `slot` with WAL streaming and starts the copy as a standby
    /// (the base backup writes its standby configuration): in the node directory, or, as a
    /// `postgresql-common` cluster of its own (`clusterFor`), in that cluster's data directory
    /// with its configuration in /etc/postgresql. A primary's configuration kept outside its
    /// data directory is given to the follower (`PostgresLayout`).
    public func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port fixedPort: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower {
        let node = nodeDirectory(for: changeover)
        let cluster = try await clusterFor(changeover: changeover, layout: layout, image: image)
        let data = cluster?.defaultDataDirectory ?? "\(node)/data"
        // A base backup of a controller that was killed may still be writing into the node.
        Subprocess.killProcesses(commandLineContaining: "--pgdata=\(data)")
        try LocalFiles.makeDirectory(root, owner: nil, mode: 0o755)
        try LocalFiles.makeDirectory(node, owner: runAs, mode: 0o700)
        if let cluster {
            // What a killed controller left of this changeover's cluster goes first.
            if FileManager.default.fileExists(atPath: cluster.configDirectory) { await dropCluster(cluster) }
            try "\(cluster)\n".write(toFile: "\(node)/cluster", atomically: true, encoding: .utf8)
        }
        if FileManager.default.fileExists(atPath: data) { try FileManager.default.removeItem(atPath: data) }

        var environment = image.environment
        environment["PGPASSWORD"] = source["password"]
        environment["PGCONNECT_TIMEOUT"] = "10"
        environment["LC_ALL"] = "C"
        // --write-recovery-conf copies this into primary_conninfo: the walreceiver reports the slot
        // name as its application_name, which is how catch-up finds it in pg_stat_replication.
        let conninfo = source.with("password", nil).with("dbname", nil).with("replication", nil)
            .with("target_session_attrs", nil).with("application_name", slot)
        let argv =
            Subprocess.runAsPrefix(runAs) + [
                "\(image.binDirectory)/pg_basebackup", "--dbname=\(conninfo.connectionString)", "--pgdata=\(data)",
                "--wal-method=stream", "--slot=\(slot)", "--write-recovery-conf", "--checkpoint=fast",
                "--progress", "--no-password",
            ]
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = try await Subprocess.run(argv, environment: environment, timeout: timeout) { text in
            // pg_basebackup -P rewrites one line with \r: "  1234/5678 kB (21%), 0/1 tablespace"
            if let last = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last(where: { $0.contains("kB") }) {
                progress("base backup \(last.trimmingCharacters(in: .whitespaces))")
            }
        }
        let backupSeconds = (clock.now - started).seconds
        guard outcome.succeeded else {
            throw ProvisionError("pg_basebackup failed: \(outcome.lastErrorLine)")
        }
        let backupBytes = Subprocess.directoryBytes(data)
        progress("base backup done: \(backupBytes / 1024) kB in \(String(format: "%.2f", backupSeconds)) s")

        let listen = followerListen(primary: layout?.listenAddresses)
        let port = fixedPort ?? FreePort.next(host: ListenAddresses.reachable(listen))
        var settings: [String: String] = ["listen_addresses": listen, "cluster_name": slot, "hot_standby": "on"]
        if let cluster {
            try await makeCluster(cluster, dataDirectory: data, port: port, layout: layout)
            settings["config_file"] = "\(cluster.configDirectory)/postgresql.conf"
            settings["cluster_name"] = nil  // its own, from its postgresql.conf
            progress("cluster \(cluster) made (configuration in \(cluster.configDirectory), started at boot)")
        } else if let layout, layout.configurationOutside {
            // Copied whole beside the data, so that its relative includes (conf.d) still resolve.
            let copy = "\(node)/conf"
            if FileManager.default.fileExists(atPath: copy) { try FileManager.default.removeItem(atPath: copy) }
            do {
                try FileManager.default.copyItem(atPath: layout.configDirectory, toPath: copy)
            } catch {
                throw ProvisionError(
                    "cannot copy the primary's configuration \(layout.configDirectory): \(error.localizedDescription)")
            }
            LocalFiles.chownTree(copy, to: runAs)
            settings.merge(layout.followerSettings(copy: copy, dataDirectory: data)) { ours, _ in ours }
            progress("configuration copied from \(layout.configDirectory)")
        }
        let server = LocalPostgres(
            binDirectory: image.binDirectory, dataDirectory: data, runAs: runAs,
            environment: image.environment)
        let pid: pid_t
        settings.merge(PostgresFollowerSettings.standby) { _, new in new }
        do {
            pid = try await server.start(
                port: port, socketDirectory: node, settings: settings, logFile: "\(node)/postgres.log",
                timeout: .seconds(60))
        } catch {
            throw startFailure(error.description, log: "\(node)/postgres.log", changeover: changeover)
        }
        var unit: SystemdUnit?
        if service == .systemd {
            // Started directly now (as on a host where systemd is not PID 1), by its unit at boot.
            unit = SystemdUnit(
                changeover: changeover, summary: "PostgreSQL server in \(data) (made by changeover \(changeover))",
                user: runAs, execStart: server.commandLine(port: port, socketDirectory: node, settings: settings))
            unit?.environment = image.environment
            unit?.service = [
                "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "KillSignal=SIGINT", "TimeoutStopSec=120",
            ]
            try await unit?.install()
            progress("unit \(unit!.name) written and enabled")
        }
        var facts = [
            "follower.dataDirectory": data, "follower.pid": String(pid),
            "basebackup.seconds": String(format: "%.2f", backupSeconds), "basebackup.bytes": String(backupBytes),
        ]
        facts["follower.cluster"] = cluster?.description
        facts["follower.unit"] = unit?.name
        return Follower(host: advertise ?? ListenAddresses.reachable(listen), port: port, facts: facts)
    }

    /// The `postgresql-common` cluster a follower is made, if it is one: with `service: auto`
    /// when the primary is a cluster, always with `debian-cluster` (of the new image's major
    /// version), never with `none`.
    func clusterFor(changeover: String, layout: PostgresLayout?, image: FleetConfig.Image) async throws
        -> DebianCluster?
    {
        let primary = layout.flatMap { DebianCluster.of(configFile: $0.configFile) }
        switch service {
        case .none, .systemd:
            return nil
        case .auto:
            return primary.map {
                DebianCluster(
                    version: $0.version, name: DebianCluster.followerName(base: $0.name, changeover: changeover))
            }
        case .debianCluster:
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/pg_createcluster") else {
                throw ProvisionError(
                    "provisioner.service is debian-cluster, but pg_createcluster (postgresql-common) is not installed")
            }
            var version = primary?.version
            if version == nil {
                version = await Self.version(of: image, server: "postgres")?.split(separator: ".").first.map(
                    String.init)
            }
            guard let version else { throw ProvisionError("cannot tell the major version of image \(image.name)") }
            let base = primary?.name ?? String(changeover.split(separator: "-").dropLast(3).joined(separator: "-"))
            return DebianCluster(version: version, name: DebianCluster.followerName(base: base, changeover: changeover))
        }
    }

    /// Integrates the follower's data directory as `cluster` (`pg_createcluster -d`), gives it the
    /// primary's configuration with its own locations over it, and marks it to start at boot.
    func makeCluster(_ cluster: DebianCluster, dataDirectory data: String, port: Int, layout: PostgresLayout?)
        async throws
    {
        // pg_createcluster integrates a data directory that holds its configuration files (it moves
        // them to /etc/postgresql/VERSION/NAME): the primary's go there first when they live elsewhere.
        if let layout, layout.configurationOutside {
            for (from, name) in [
                (layout.configFile, "postgresql.conf"), (layout.hbaFile, "pg_hba.conf"),
                (layout.identFile, "pg_ident.conf"),
            ] {
                let to = "\(data)/\(name)"
                try? FileManager.default.removeItem(atPath: to)
                do {
                    try FileManager.default.copyItem(atPath: from, toPath: to)
                } catch {
                    throw ProvisionError("cannot copy the primary's \(from): \(error.localizedDescription)")
                }
                if let (uid, gid) = LocalFiles.ids(of: runAs) { chown(to, uid, gid) }
            }
        }
        let made = try await Subprocess.run(
            [
                "pg_createcluster", cluster.version, cluster.name, "-d", data, "-p", String(port),
                "--start-conf=auto",
            ], environment: ["LC_ALL": "C"], timeout: .seconds(120))
        guard made.succeeded else { throw ProvisionError("pg_createcluster \(cluster) failed: \(made.lastErrorLine)") }
        // The primary's conf.d, which its postgresql.conf includes relative to its directory.
        if let layout, layout.configurationOutside,
            FileManager.default.fileExists(atPath: "\(layout.configDirectory)/conf.d")
        {
            let to = "\(cluster.configDirectory)/conf.d"
            try? FileManager.default.removeItem(atPath: to)
            try FileManager.default.copyItem(atPath: "\(layout.configDirectory)/conf.d", toPath: to)
        }
        let conf = "\(cluster.configDirectory)/postgresql.conf"
        guard let handle = FileHandle(forWritingAtPath: conf) else { throw ProvisionError("cannot write \(conf)") }
        handle.seekToEndOfFile()
        handle.write(Data(cluster.ownSettings(dataDirectory: data, port: port).utf8))
        handle.closeFile()
        // Owned as pg_createcluster leaves them (its modes kept): the copies were made by this process.
        LocalFiles.chownTree(cluster.configDirectory, to: runAs, privately: false)
    }

    /// Stops (at once) and removes a cluster this controller made: its data and configuration.
    func dropCluster(_ cluster: DebianCluster) async {
        _ = try? await Subprocess.run(
            ["pg_dropcluster", "--stop", cluster.version, cluster.name], timeout: .seconds(120))
    }

    /// Removes a node directory whose server is stopped.
    public func removeNode(changeover: String) throws {
        let node = nodeDirectory(for: changeover)
        if FileManager.default.fileExists(atPath: node) { try FileManager.default.removeItem(atPath: node) }
    }
}

public struct ProvisionError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Free loopback ports, found by binding to port 0.
public enum FreePort {
    private static let handedOut = Mutex<Set<Int>>([])

    /// A port to listen on: below the kernel's ephemeral range (so no client connection of
    /// this machine can be holding it), never handed out before by this process (so two
    /// servers started at once do not race for it), and free to bind right now.
    public static func next(host: String = "127.0.0.1") -> Int {
        let low = ephemeralRangeStart()
        let candidates = max(1024, low - 12_000)..<max(2048, low - 1)
        while true {
            let port = Int.random(in: candidates)
            let fresh = handedOut.withLock { ports in ports.insert(port).inserted }
            if fresh && isFree(port, host: host) { return port }
        }
    }

    private static func ephemeralRangeStart() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
    }

    /// Whether something accepts TCP connections on `host:port` (a non-blocking connect, ≤ 100 ms).
    public static func accepts(_ port: Int, host: String = "127.0.0.1") -> Bool {
        probe(host, port: port, timeout: .milliseconds(100)) == .accepted
    }

    /// What a non-blocking TCP connect to `host:port` meets within `timeout`.
    public enum ConnectOutcome: Sendable { case accepted, refused, noAnswer }

    public static func probe(_ host: String, port: Int, timeout: Duration) -> ConnectOutcome {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .noAnswer }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc == 0 { return .accepted }
        if errno == ECONNREFUSED { return .refused }
        guard errno == EINPROGRESS else { return .noAnswer }
        var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&pfd, 1, Int32(timeout.milliseconds)) == 1 else { return .noAnswer }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error == 0 ? .accepted : error == ECONNREFUSED ? .refused : .noAnswer
    }

    /// Whether a server could listen on `port` now: bound as the servers bind, with
    /// SO_REUSEADDR, so that a port held only by connections in TIME_WAIT (a server stopped
    /// seconds ago) counts as free.
    public static func isFree(_ port: Int, host: String = "127.0.0.1") -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var on: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, host, &address.sin_addr)
        let rc = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc == 0
    }
}
