import Foundation
import PostgresClient

/// Makes followers on other machines over ssh, as a platform patches a fleet of hosts: the
/// follower goes on a host that is not the primary's (labels can require the primary's zone, or
/// another), in a node directory under that host's root; the old primary is fenced on its own
/// host. The engines reach remote servers with libpq and hiredis on their addresses exactly as
/// local ones: only this provisioner knows about ssh. Secrets travel over stdin, never on a
/// command line.
public struct SSHProvisioner: Sendable {
    public var hosts: [SSHHost]
    public var login: SSHLogin
    public var root: String
    public var runAs: String?
    /// Label rules for the follower's host: `zone: same` (the primary's), `zone: other`, or a value.
    public var placement: [String: String]
    /// The primary's address, as the database's config names it.
    public var primaryAddress: String
    /// Where followers listen (default: their host's address) and the host clients reach them at.
    public var listen: String?
    public var advertise: String?
    /// How long one remote command may take (the base backup: the database's provision timeout).
    public var timeout: Duration
    /// `systemd`: each follower gets a unit of its own on its host (`changeover-ID.service`),
    /// so that it starts at boot there; otherwise it is a server process in its node.
    public var service: FleetConfig.ProvisionerConfig.Service

    public init(
        hosts: [SSHHost], login: SSHLogin, root: String, runAs: String?, placement: [String: String],
        primaryAddress: String,
        listen: String? = nil, advertise: String? = nil, timeout: Duration = .seconds(60),
        service: FleetConfig.ProvisionerConfig.Service = .auto
    ) {
        self.hosts = hosts
        self.login = login
        self.root = root
        self.runAs = runAs
        self.placement = placement
        self.primaryAddress = primaryAddress
        self.listen = listen
        self.advertise = advertise
        self.timeout = timeout
        self.service = service
    }

    /// The primary's host: the one whose address (or name) the primary's address is.
    public var primaryHost: SSHHost? { hosts.first { $0.address == primaryAddress || $0.name == primaryAddress } }

    /// The follower's host and why: the first host in the config's order that is not the
    /// primary's and meets every placement rule.
    public func followerHost() -> (host: SSHHost?, why: String) {
        guard let primary = primaryHost else {
            return (
                nil,
                "the primary's address \(primaryAddress) is no host's of provisioner.hosts (\(hosts.map(\.address).joined(separator: ", ")))"
            )
        }
        var reasons = ["not the primary's host \(primary.name)"]
        var candidates = hosts.filter { $0.name != primary.name }
        for (label, rule) in placement.sorted(by: { $0.key < $1.key }) {
            let theirs = primary.labels[label]
            switch rule {
            case "same":
                candidates = candidates.filter { $0.labels[label] != nil && $0.labels[label] == theirs }
                reasons.append("\(label) \(theirs ?? "(none)") as the primary's")
            case "other":
                candidates = candidates.filter { $0.labels[label] != theirs }
                reasons.append("\(label) other than the primary's \(theirs ?? "(none)")")
            default:
                candidates = candidates.filter { $0.labels[label] == rule }
                reasons.append("\(label) \(rule)")
            }
        }
        guard let chosen = candidates.first else {
            return (nil, "no host of provisioner.hosts is " + reasons.joined(separator: ", "))
        }
        return (chosen, reasons.joined(separator: ", "))
    }

    func follower() throws -> SSHHost {
        let (host, why) = followerHost()
        guard let host else { throw ProvisionError(why) }
        return host
    }

    func host(named name: String?) throws -> SSHHost {
        guard let name, let host = hosts.first(where: { $0.name == name }) else {
            throw ProvisionError("host \(name ?? "(unknown)") is not in provisioner.hosts")
        }
        return host
    }

    func rootDirectory(on host: SSHHost) -> String { host.root ?? root }
    func service(on host: SSHHost) -> FleetConfig.ProvisionerConfig.Service { host.service ?? service }
    func nodeDirectory(for changeover: String, on host: SSHHost) -> String {
        "\(rootDirectory(on: host))/\(changeover)"
    }

    public var listenAddress: String { listen ?? ((try? follower())?.address ?? "?") }
    var followerListen: String { listen ?? ((try? follower())?.address ?? "127.0.0.1") }
    func followerAddress(_ host: SSHHost) -> String {
        advertise
            ?? (listen.map { ListenAddresses.isWildcard($0) ? host.address : ListenAddresses.reachable($0) }
                ?? host.address)
    }

    /// Writes `unit` on `host` (0644), checks it with `systemd-analyze verify` where the host has
    /// that tool (any word of it about the file is a fault, and the file is removed again), and
    /// enables it. As on a host where systemd is not PID 1, the server already runs: the unit
    /// starts it at the next boot.
    func installUnit(_ unit: SystemdUnit, on host: SSHHost) async throws {
        let path = Shell.quote(unit.path)
        let name = Shell.quote(unit.name)
        let script = """
            umask 022 && cat > \(path) || exit 3
            if [ -x /usr/bin/systemd-analyze ]; then
              said=$(systemd-analyze verify --man=no \(path) 2>&1); rc=$?
              fault=$(printf '%s\\n' "$said" | grep -F \(name) | head -n 1)
              if [ $rc -ne 0 ] || [ -n "$fault" ]; then
                rm -f \(path)
                echo "the unit \(unit.name) does not pass systemd-analyze verify: ${fault:-$(printf '%s\\n' "$said" | tail -n 1)}" >&2
                exit 5
              fi
            fi
            systemctl enable \(name) >/dev/null 2>&1 || { echo "systemctl enable \(unit.name) failed" >&2; exit 6; }
            """
        _ = try await login.output(
            host, script, stdin: Data(unit.text.utf8), timeout: timeout, doing: "installing \(unit.name)")
    }

    /// Disables and removes a changeover's unit on `host`, if it wrote one there.
    func removeUnit(changeover: String, on host: SSHHost) async throws {
        let path = Shell.quote("\(SystemdUnit.directory)/\(SystemdUnit.name(changeover: changeover))")
        _ = try await login.output(
            host,
            "[ -e \(path) ] || exit 0; systemctl disable \(Shell.quote(SystemdUnit.name(changeover: changeover))) >/dev/null 2>&1; rm -f \(path)",
            timeout: timeout, doing: "removing \(SystemdUnit.name(changeover: changeover))")
    }

    /// Disables, on `host`, the units this controller wrote whose server is the one `argument`
    /// names (its data directory or config file in ExecStart); returns their names.
    func disableUnits(naming argument: String, on host: SSHHost) async throws -> [String] {
        let script = """
            for f in \(SystemdUnit.directory)/\(SystemdUnit.prefix)*.service; do
              [ -e "$f" ] || continue
              grep '^ExecStart=' "$f" | grep -qF -- \(Shell.quote(SystemdUnit.quote(argument))) || continue
              u=${f##*/}
              systemctl disable "$u" >/dev/null 2>&1 && echo "$u"
            done
            true
            """
        let said = try await login.output(host, script, timeout: timeout, doing: "disabling the units of \(argument)")
        return said.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// `mkdir` of a node, 0700 and `runAs`'s, under a root made 0755.
    func makeNodeScript(_ node: String, on host: SSHHost) -> String {
        let owner = runAs.map { "chown \(Shell.quote($0)): \(Shell.quote(node)) && " } ?? ""
        return
            "mkdir -p \(Shell.quote(rootDirectory(on: host))) && chmod 755 \(Shell.quote(rootDirectory(on: host))) && "
            + "mkdir -p \(Shell.quote(node)) && \(owner)chmod 700 \(Shell.quote(node))"
    }
}

extension SSHProvisioner: Provisioner {
    /// Every host answers (its key the known one), and the follower's host has a place for it.
    public func check(followerPort: Int?) async -> PreflightCheck {
        for host in hosts {
            do {
                let outcome = try await login.run(host, "true", timeout: timeout)
                guard outcome.succeeded else {
                    return PreflightCheck(
                        "provisioner", passed: false,
                        "host \(host.name) (\(host.address)): a command failed there: \(outcome.lastErrorLine)")
                }
            } catch {
                return PreflightCheck("provisioner", passed: false, error.description)
            }
        }
        let (chosen, why) = followerHost()
        guard let host = chosen else { return PreflightCheck("provisioner", passed: false, why) }
        if let port = followerPort {
            let busy = try? await login.output(
                host, "ss -Hltn 'sport = :\(port)' 2>/dev/null | head -n 1", timeout: timeout, doing: "ss")
            if let busy, !busy.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                return PreflightCheck(
                    "provisioner", passed: false, "follower port \(port) on host \(host.name) is in use")
            }
        }
        return PreflightCheck(
            "provisioner", passed: true,
            "ssh: \(hosts.count) hosts reached; the follower goes on host \(host.name) (\(host.address)): \(why)")
    }

    public func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String {
        guard let host = try? follower() else { return "on no host (\(followerHost().why))" }
        let node = nodeDirectory(for: changeover, on: host)
        return "on host \(host.name) (\(host.address)) in \(engine == .postgres ? "\(node)/data" : node)"
            + (service(on: host) == .systemd
                ? ", started at boot by a unit of its own (\(SystemdUnit.name(changeover: changeover)))" : "")
    }

    // MARK: images

    public func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        PreflightCheck(
            "new image", passed: from.name != to.name,
            from.name != to.name ? "\(from.name) → \(to.name)" : "the database already runs \(to.name)")
    }

    public func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?) {
        guard let host = try? follower() else { return ([], nil) }
        let (server, needed) =
            engine == .postgres
            ? ("postgres", ["postgres", "pg_basebackup", "pg_controldata"]) : ("redis-server", ["redis-server"])
        let bin = to.binDirectory
        let script =
            needed.map { "test -x \(Shell.quote("\(bin)/\($0)")) || echo \"missing \($0)\"" }.joined(separator: "; ")
            + "; \(Shell.quote("\(bin)/\(server)")) --version"
        guard let said = try? await login.output(host, script, timeout: timeout, doing: "\(server) --version") else {
            return (
                [
                    PreflightCheck(
                        "image \(to.name)", passed: false,
                        "bin directory \(bin) on host \(host.name) lacks a working \(server)")
                ], nil
            )
        }
        let missing = said.split(separator: "\n").filter { $0.hasPrefix("missing ") }.map {
            $0.dropFirst("missing ".count)
        }
        guard missing.isEmpty else {
            return (
                [
                    PreflightCheck(
                        "image \(to.name)", passed: false,
                        "bin directory \(bin) on host \(host.name) lacks \(missing.joined(separator: ", "))")
                ], nil
            )
        }
        let version: String? =
            engine == .redis
            ? said.range(of: "v=").flatMap { said[$0.upperBound...].split(separator: " ").first.map(String.init) }
            : said.split(whereSeparator: \.isWhitespace).first { $0.first?.isNumber == true }.map(String.init)
        return (
            [
                PreflightCheck(
                    "image \(to.name)", passed: version != nil,
                    "\(bin) on host \(host.name): \(engine == .postgres ? "PostgreSQL" : "Redis") \(version ?? "?")")
            ], version
        )
    }

    public func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts { [:] }

    // MARK: Postgres

    public func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        guard let host = primaryHost else { return PreflightCheck("primary host", passed: false, followerHost().why) }
        let script =
            "\(SSHPostgres.functions)\npid=$(head -n 1 \(Shell.quote(dataDirectory))/postmaster.pid) && "
            + "[ \"$(sed -n 4p \(Shell.quote(dataDirectory))/postmaster.pid)\" = \(Shell.quote(port)) ] && alive \"$pid\" && echo \"$pid\""
        guard let pid = try? await login.output(host, script, timeout: timeout, doing: "reading postmaster.pid") else {
            return PreflightCheck(
                "primary host", passed: false,
                "the primary's data directory \(dataDirectory) is not a running server on host \(host.name): the ssh provisioner fences it there"
            )
        }
        return PreflightCheck(
            "primary host", passed: true,
            "host \(host.name): data directory \(dataDirectory), postmaster pid \(pid.trimmingCharacters(in: .whitespacesAndNewlines))"
        )
    }

    public func oldPrimaryFacts(dataDirectory: String) -> Facts {
        primaryHost.map { ["old.host": $0.name] } ?? [:]
    }

    public func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts.oldDataDirectory else {
            throw EngineError("the old primary's data directory is unknown")
        }
        return SSHPostgres(
            host: try host(named: facts.oldHost ?? primaryHost?.name), login: login,
            binDirectory: image.binDirectory, dataDirectory: dataDirectory, runAs: runAs)
    }

    public func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard let dataDirectory = facts.followerDataDirectory else {
            throw EngineError("no follower was provisioned")
        }
        return SSHPostgres(
            host: try host(named: facts.followerSSHHost), login: login, binDirectory: image.binDirectory,
            dataDirectory: dataDirectory, runAs: runAs)
    }

    public func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        let host = try follower()
        let data = "\(nodeDirectory(for: changeover, on: host))/data"
        return try await runningServer(
            on: host, pid: "head -n 1 \(Shell.quote(data))/postmaster.pid",
            port: "sed -n 4p \(Shell.quote(data))/postmaster.pid", facts: ["follower.dataDirectory": data])
    }

    /// A server on `host` whose PID the `pid` command prints runs: a follower on its port (what
    /// the `port` command prints), with `facts` and its PID and host.
    func runningServer(on host: SSHHost, pid: String, port: String, facts: [String: String]) async throws -> Follower? {
        let script = "\(SSHPostgres.functions)\npid=$(\(pid) 2>/dev/null) && alive \"$pid\" && echo \"$pid $(\(port))\""
        let outcome = try await login.run(host, script, timeout: timeout)
        let words = outcome.stdout.split(whereSeparator: \.isWhitespace)
        guard outcome.succeeded, words.count == 2, let number = Int(words[1]) else { return nil }
        return Follower(
            host: followerAddress(host), port: number,
            facts: facts.merging(["follower.pid": String(words[0]), "follower.sshHost": host.name]) { _, new in new })
    }

    /// On the follower's host: a base backup through `slot` (its password read from stdin into
    /// the environment of pg_basebackup), then the copy started as a standby.
    public func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port fixedPort: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower {
        let host = try follower()
        let node = nodeDirectory(for: changeover, on: host)
        let data = "\(node)/data"
        let conninfo = source.with("password", nil).with("dbname", nil).with("replication", nil)
            .with("target_session_attrs", nil).with("application_name", slot)
        let backup =
            Subprocess.runAsPrefix(runAs) + [
                "\(image.binDirectory)/pg_basebackup", "--dbname=\(conninfo.connectionString)", "--pgdata=\(data)",
                "--wal-method=stream",
                "--slot=\(slot)", "--write-recovery-conf", "--checkpoint=fast", "--progress", "--no-password",
            ]
        let environment = image.environment.map { "\($0.key)=\($0.value)" }.sorted()
        // A base backup of a controller that was killed may still be writing into the node.
        let pidFile = Shell.quote("\(node)/basebackup.pid")
        let script = """
            \(SSHPostgres.functions)
            \(makeNodeScript(node, on: host)) || exit 3
            p=$(cat \(pidFile) 2>/dev/null) && alive "$p" && kill -KILL "$p"
            rm -rf \(Shell.quote(data))
            IFS= read -r PGPASSWORD || true; export PGPASSWORD
            cd / && env LC_ALL=C PGCONNECT_TIMEOUT=10 \(Shell.join(environment)) \(Shell.join(backup)) &
            echo $! > \(pidFile)
            wait $!
            """
        let clock = ContinuousClock()
        let started = clock.now
        let outcome = try await login.run(
            host, script, stdin: Data(((source["password"] ?? "") + "\n").utf8), timeout: timeout
        ) { text in
            if let last = text.split(whereSeparator: { $0 == "\r" || $0 == "\n" }).last(where: { $0.contains("kB") }) {
                progress("base backup on host \(host.name) \(last.trimmingCharacters(in: .whitespaces))")
            }
        }
        guard outcome.succeeded else {
            throw ProvisionError(
                "pg_basebackup on host \(host.name) failed: \(ConfigError.maskingPasswords(in: outcome.lastErrorLine))")
        }
        let seconds = (clock.now - started).seconds
        progress("base backup on host \(host.name) done in \(String(format: "%.2f", seconds)) s")
        var settings: [String: String] = [
            "listen_addresses": followerListen, "cluster_name": slot, "hot_standby": "on",
        ]
        if let layout, layout.configurationOutside, let primary = primaryHost {
            // The primary's configuration directory, carried from its host to the follower's.
            let archive = try await login.output(
                primary, "tar -C \(Shell.quote(layout.configDirectory)) -cf - . | base64 -w0",
                timeout: timeout, doing: "reading \(layout.configDirectory)")
            let copy = "\(node)/conf"
            _ = try await login.output(
                host,
                "rm -rf \(Shell.quote(copy)) && mkdir -p \(Shell.quote(copy)) && base64 -d | tar -C \(Shell.quote(copy)) -xf - "
                    + "&& chown -R \(runAs ?? "root"): \(Shell.quote(copy))",
                stdin: Data(archive.utf8), timeout: timeout, doing: "copying the configuration")
            settings.merge(layout.followerSettings(copy: copy, dataDirectory: data)) { ours, _ in ours }
        }
        settings.merge(PostgresFollowerSettings.standby) { _, new in new }
        let port = fixedPort ?? FreePort.next(host: "127.0.0.1")
        let argv = LocalPostgres(binDirectory: image.binDirectory, dataDirectory: data).commandLine(
            port: port, socketDirectory: node, settings: settings)
        let pid = try await SSHPostgres.launch(
            argv, host: host, login: login, runAs: runAs, dataDirectory: data, log: "\(node)/postgres.log",
            timeout: .seconds(60))
        var facts = [
            "follower.dataDirectory": data, "follower.pid": String(pid), "follower.sshHost": host.name,
            "basebackup.seconds": String(format: "%.2f", seconds),
        ]
        if service(on: host) == .systemd {
            var unit = SystemdUnit(
                changeover: changeover, summary: "PostgreSQL server in \(data) (made by changeover \(changeover))",
                user: runAs, execStart: argv)
            unit.environment = image.environment
            unit.service = [
                "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "KillSignal=SIGINT", "TimeoutStopSec=120",
            ]
            try await installUnit(unit, on: host)
            progress("unit \(unit.name) written and enabled on host \(host.name)")
            facts["follower.unit"] = unit.name
        }
        return Follower(host: followerAddress(host), port: port, facts: facts)
    }

    /// An old primary that is a Debian cluster on its host starts by hand only from now on.
    /// An old primary that a unit of this controller starts on its host has that unit disabled.
    public func disableOldPostgresService(_ facts: Facts) async throws -> String? {
        let host = try host(named: facts.oldHost ?? primaryHost?.name)
        var done: [String] = []
        if let cluster = facts.oldCluster.flatMap(DebianCluster.init(id:)) {
            let text = "# Set by changeover: auto, manual or disabled (see pg_createcluster(1)).\nmanual\n"
            _ = try await login.output(
                host, "cat > \(Shell.quote(cluster.startConf))", stdin: Data(text.utf8), timeout: timeout,
                doing: "writing \(cluster.startConf)")
            done.append("cluster \(cluster) on host \(host.name) no longer starts at boot (start.conf manual)")
        }
        if let dataDirectory = facts.oldDataDirectory {
            done += try await disableUnits(naming: dataDirectory, on: host).map {
                "\($0) on host \(host.name) no longer starts at boot"
            }
        }
        return done.isEmpty ? nil : done.joined(separator: "; ")
    }

    public func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    {
        let host = try facts.followerSSHHost.map { try self.host(named: $0) } ?? follower()
        let node = nodeDirectory(for: changeover, on: host)
        try await SSHPostgres(
            host: host, login: login, binDirectory: image.binDirectory, dataDirectory: "\(node)/data", runAs: runAs
        )
        .stop(timeout: timeout, signal: SIGQUIT)
        try await removeUnit(changeover: changeover, on: host)
        _ = try await login.output(host, "rm -rf \(Shell.quote(node))", timeout: timeout, doing: "removing \(node)")
    }

    public func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String {
        guard let dataDirectory = facts.oldDataDirectory else {
            throw EngineError("the old primary's data directory is unknown")
        }
        let host = try host(named: facts.oldHost ?? primaryHost?.name)
        let root = rootDirectory(on: host)
        if dataDirectory.hasPrefix(root + "/") {
            let node = URL(fileURLWithPath: dataDirectory).deletingLastPathComponent().path
            _ = try await login.output(host, "rm -rf \(Shell.quote(node))", timeout: timeout, doing: "removing \(node)")
            return "removed \(node) on host \(host.name), the stopped old primary's node"
        }
        return
            "the old primary on host \(host.name) stays stopped; its data directory \(dataDirectory) is left to its owner"
    }

    // MARK: Redis

    public func runningRedisFollower(changeover: String) async throws -> Follower? {
        let host = try follower()
        let node = nodeDirectory(for: changeover, on: host)
        return try await runningServer(
            on: host, pid: "cat \(Shell.quote(node))/redis.pid",
            port: "sed -n 's/^port //p' \(Shell.quote(node))/redis.conf | tail -n 1",
            facts: ["follower.node": node])
    }

    /// Writes the replica's config file (and ACL file) on the follower's host from stdin, 0600,
    /// and starts it there in a session of its own with umask 077.
    public func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port fixedPort: Int?, settings: [(String, String)],
        acl: String?, primaryConfigFile: String?, primaryBind: String?, timeout: Duration
    ) async throws -> Follower {
        let host = try follower()
        let node = nodeDirectory(for: changeover, on: host)
        let port = fixedPort ?? FreePort.next(host: "127.0.0.1")
        var lines =
            [
                "port \(port)", "bind \(followerListen)", "daemonize no", "dir \(LocalRedis.quote(node))",
                "pidfile \(LocalRedis.quote("\(node)/redis.pid"))", "logfile \(LocalRedis.quote("\(node)/redis.log"))",
            ] + settings.map { "\($0.0) \($0.1)" }
        let owner = runAs.map { "chown \(Shell.quote($0)): " } ?? ": "
        if let acl {
            lines.append("aclfile \(LocalRedis.quote("\(node)/users.acl"))")
            _ = try await login.output(
                host,
                "\(makeNodeScript(node, on: host)) && umask 077 && cat > \(Shell.quote("\(node)/users.acl")) && \(owner)\(Shell.quote("\(node)/users.acl"))",
                stdin: Data(acl.utf8), timeout: timeout, doing: "writing the ACL file")
        }
        let conf = "\(node)/redis.conf"
        let script = """
            \(SSHPostgres.functions)
            p=$(cat \(Shell.quote("\(node)/redis.pid")) 2>/dev/null) && alive "$p" && kill -KILL "$p"
            \(makeNodeScript(node, on: host)) || exit 3
            umask 077 && cat > \(Shell.quote(conf)) && \(owner)\(Shell.quote(conf)) || exit 3
            cd / && setsid \(Shell.join(Subprocess.runAsPrefix(runAs))) sh -c \(Shell.quote("umask 077; exec \(Shell.quote("\(image.binDirectory)/redis-server")) \(Shell.quote(conf))")) >> \(Shell.quote("\(node)/redis.out")) 2>&1 < /dev/null &
            pid=$!
            n=0
            while :; do
              if ! alive "$pid"; then echo "redis-server exited during start-up; its log ends:" >&2; tail -n 20 \(Shell.quote("\(node)/redis.log")) | tr '\\n' '|' >&2; exit 4; fi
              [ "$(cat \(Shell.quote("\(node)/redis.pid")) 2>/dev/null)" = "$pid" ] && { echo "$pid"; exit 0; }
              n=$((n+1)); [ $n -gt \(Int(timeout.milliseconds) / 10) ] && { echo "redis-server did not start within \(timeout.seconds) s" >&2; exit 4; }
              sleep 0.01
            done
            """
        let outcome = try await login.run(
            host, script, stdin: Data((lines.joined(separator: "\n") + "\n").utf8), timeout: timeout + .seconds(10))
        guard outcome.succeeded, let pid = Int32(outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ProvisionError(
                "starting redis-server on host \(host.name) failed: \(ConfigError.maskingPasswords(in: outcome.stderr.split(whereSeparator: \.isNewline).suffix(2).joined(separator: " ")))"
            )
        }
        let address = followerAddress(host)
        let deadline = ContinuousClock.now + timeout
        while !FreePort.accepts(port, host: address) {
            guard ContinuousClock.now < deadline else {
                throw ProvisionError("redis-server on host \(host.name) did not listen on \(address):\(port)")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        var facts = ["follower.node": node, "follower.pid": String(pid), "follower.sshHost": host.name]
        if service(on: host) == .systemd {
            var unit = SystemdUnit(
                changeover: changeover, summary: "Redis server in \(node) (made by changeover \(changeover))",
                user: runAs,
                execStart: ["\(image.binDirectory)/redis-server", conf, "--supervised", "systemd", "--daemonize", "no"])
            unit.environment = image.environment
            unit.service = ["UMask=0077", "TimeoutStopSec=120"]
            try await installUnit(unit, on: host)
            facts["follower.unit"] = unit.name
        }
        return Follower(host: address, port: port, facts: facts)
    }

    public func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool {
        ((try? await runningRedisFollower(changeover: changeover)) ?? nil) != nil
    }

    public func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        let host = try facts.followerSSHHost.map { try self.host(named: $0) } ?? follower()
        let node = nodeDirectory(for: changeover, on: host)
        let script = """
            \(SSHPostgres.functions)
            pid=$(cat \(Shell.quote(node))/redis.pid 2>/dev/null)
            if [ -n "$pid" ] && alive "$pid"; then
              kill -TERM "$pid"; n=0
              while alive "$pid"; do n=$((n+1)); [ $n -gt \(Int(timeout.milliseconds) / 5) ] && { kill -KILL "$pid"; break; }; sleep 0.005; done
            fi
            rm -rf \(Shell.quote(node))
            """
        _ = try await login.output(host, script, timeout: timeout + .seconds(10), doing: "removing \(node)")
        try await removeUnit(changeover: changeover, on: host)
    }

    /// An old primary that is a Debian instance on its host (its pid file there names the process
    /// that served) no longer starts at boot; where systemd runs there, retiring it stops its unit.
    public func disableOldRedisService(_ facts: Facts) async throws -> String? {
        if let file = facts.oldConfigFile, let host = primaryHost {
            let units = try await disableUnits(naming: file, on: host)
            if !units.isEmpty {
                return units.map { "\($0) on host \(host.name) no longer starts at boot" }.joined(separator: "; ")
            }
        }
        guard let instance = facts.oldConfigFile.flatMap(DebianRedis.of(configFile:)), let pid = facts["old.pid"],
            let host = primaryHost
        else { return nil }
        let script =
            "[ \"$(cat \(Shell.quote(instance.pidFile)) 2>/dev/null)\" = \(Shell.quote(pid)) ] || exit 0; "
            + "systemctl disable \(Shell.quote(instance.unit)) >/dev/null 2>&1 && echo disabled"
        let said = try await login.output(host, script, timeout: timeout, doing: "systemctl disable \(instance.unit)")
        guard said.contains("disabled") else { return nil }
        return "\(instance.unit) on host \(host.name) no longer starts at boot"
    }

    public func retireOldRedis(_ facts: Facts) async throws -> String? {
        guard facts.oldService != nil, let instance = facts.oldConfigFile.flatMap(DebianRedis.of(configFile:)),
            let host = primaryHost
        else { return nil }
        let said = try await login.output(
            host,
            "if [ -d /run/systemd/system ]; then systemctl stop \(Shell.quote(instance.unit)) && echo stopped; fi",
            timeout: timeout, doing: "systemctl stop \(instance.unit)")
        return said.contains("stopped") ? "\(instance.unit) on host \(host.name) stopped" : nil
    }
}
