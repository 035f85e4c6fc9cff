import Foundation
import PostgresClient

/// The YAML file as written, before checks and defaults. Keys are camelCase.
struct RawConfig: Decodable {
    var stateDirectory: String?
    var auditLog: String?
    var images: [String: RawImage]?
    var provisioner: RawProvisioner?
    /// `databases:` is not decoded with the rest: `FleetConfig.parse` decodes and resolves its
    /// stanzas one at a time (`resolveDatabases`). It is declared so that it is a known key.
    private var databases: DecodedApart?
    var freezes: [FreezePeriod]?
    var scheduling: RawScheduling?
    var daemon: RawDaemon?
    var schedule: [RawScheduled]?
    var notify: RawNotify?
    var store: RawStore?

    /// A key whose value is decoded elsewhere: decoding it reads nothing.
    struct DecodedApart: Decodable {
        init(from decoder: any Decoder) {}
    }

    struct RawImage: Decodable {
        var binDirectory: String?
        var environment: [String: String]?
        var docker: RawDockerImage?
        /// The exec provisioner: passed to its command as they are (a registry reference, a tag…).
        var labels: [String: String]?
    }

    struct RawDockerImage: Decodable {
        var image: String
    }

    struct RawProvisioner: Decodable {
        var kind: String?
        var root: String?
        var runAs: String?
        /// local: how a Postgres follower is run (`none`, `debian-cluster`, `systemd`; default: as the primary is).
        var service: String?
        // docker
        var socket: String?
        var labels: [String: String]?
        // exec
        var command: RawCommand?
        var timeout: String?
        // ssh
        var hosts: [RawSSHHost]?
        var user: String?
        var identity: String?
        var knownHosts: String?
        var placement: [String: String]?
    }

    struct RawSSHHost: Decodable {
        var name: String?
        var address: String?
        var port: Int?
        var labels: [String: String]?
        var root: String?
        var service: String?
    }

    /// A command as one string of words separated by spaces (no shell), or as a list of words.
    struct RawCommand: Decodable {
        var words: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let list = try? container.decode([String].self) {
                words = list
            } else {
                words = try container.decode(String.self).split(whereSeparator: \.isWhitespace).map(String.init)
            }
        }
    }

    struct RawDatabase: Decodable {
        var engine: String?
        var image: String
        var primary: String
        /// The docker provisioner: the primary's container.
        var container: String?
        var password: Secret?
        var replication: RawReplication?
        var follower: RawFollower?
        var router: RawRouter?
        var catchUp: RawCatchUp?
        var switchover: RawSwitchover?
        var retireAfter: String?
        var windows: [MaintenanceWindow]?
        var freezes: [FreezePeriod]?
        var oneOffWindows: [String]?
        /// Free-form labels; campaigns read `tier`.
        var labels: [String: String]?
        var notify: RawNotify?
    }

    struct RawReplication: Decodable {
        var user: String?
        var password: Secret?
    }

    struct RawFollower: Decodable {
        var port: Int?
        /// `5433-5440`: each changeover takes the first free port of the range.
        var ports: String?
        /// The address the follower listens on (`0.0.0.0` for every interface); 127.0.0.1 when left out.
        var listen: String?
        /// The host clients and the controller reach it at, when `listen` does not say (a wildcard).
        var advertise: String?
    }

    struct RawRouter: Decodable {
        var kind: String
        var command: String?
        var timeout: String?
        // pgbouncer
        var admin: String?
        var password: Secret?
        var database: String?
        var include: String?
        // haproxy
        var socket: String?
        var backend: String?
        var server: String?
    }

    struct RawCatchUp: Decodable {
        var maxLagBytes: String?
        var maxLagTime: String?
        var holdFor: String?
        var timeout: String?
        var pollEvery: String?
        var provisionTimeout: String?
    }

    struct RawSwitchover: Decodable {
        var fenceTimeout: String?
        var replayTimeout: String?
        var promoteTimeout: String?
        var verifyTimeout: String?
        var connectTimeout: String?
    }

    /// The fleet these settings describe, with the databases `resolveDatabases` resolves with
    /// the resolver they make.
    func resolve(
        source: String, base: String,
        resolveDatabases: (DatabaseResolver) throws(ConfigError) -> [String: DatabaseConfig]
    ) throws(ConfigError) -> FleetConfig {
        func abs(_ path: String) -> String { Self.absolute(path, base: base) }
        let state = abs(stateDirectory ?? "changeover-state")
        guard let rawProvisioner = provisioner else {
            throw ConfigError("config \(source): missing key \"provisioner\"")
        }
        let known = FleetConfig.ProvisionerConfig.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let kind = FleetConfig.ProvisionerConfig.Kind(rawValue: rawProvisioner.kind ?? "local") else {
            throw ConfigError(
                "config \(source): unknown provisioner kind \"\(rawProvisioner.kind ?? "")\" (known: \(known))")
        }
        let provisioner: FleetConfig.ProvisionerConfig
        switch kind {
        case .local:
            guard let root = rawProvisioner.root else {
                throw ConfigError(
                    "config \(source): the local provisioner needs provisioner.root (where follower directories are made)"
                )
            }
            var local = FleetConfig.ProvisionerConfig(
                kind: kind, root: abs(root), runAs: rawProvisioner.runAs ?? "postgres")
            if let service = rawProvisioner.service {
                guard let mode = FleetConfig.ProvisionerConfig.Service(rawValue: service) else {
                    let known = FleetConfig.ProvisionerConfig.Service.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigError("config \(source): unknown provisioner.service \"\(service)\" (known: \(known))")
                }
                local.service = mode
            }
            provisioner = local
        case .docker:
            guard let socket = rawProvisioner.socket, !socket.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw ConfigError(
                    "config \(source): the docker provisioner needs provisioner.socket (the Docker engine's unix socket)"
                )
            }
            for key in (rawProvisioner.labels ?? [:]).keys
            where key.isEmpty || key.contains(where: { $0.isWhitespace || $0 == "=" }) {
                throw ConfigError("config \(source): provisioner.labels has a bad label name \"\(key)\"")
            }
            provisioner = FleetConfig.ProvisionerConfig(
                kind: kind, root: abs(rawProvisioner.root ?? "\(state)/nodes"),
                runAs: rawProvisioner.runAs ?? "postgres",
                socket: socket.hasPrefix("unix://") ? String(socket.dropFirst("unix://".count)) : abs(socket),
                labels: rawProvisioner.labels ?? [:])
        case .exec:
            let command = try Self.execCommand(rawProvisioner.command?.words ?? [], source: source, abs: abs)
            let timeout =
                try rawProvisioner.timeout.map { v throws(ConfigError) in
                    try ConfigValue.duration(v, at: "config \(source), provisioner.timeout")
                } ?? .seconds(300)
            guard timeout > .zero else {
                throw ConfigError("config \(source): provisioner.timeout must be longer than 0 s")
            }
            provisioner = FleetConfig.ProvisionerConfig(
                kind: kind, root: abs(rawProvisioner.root ?? "\(state)/nodes"), runAs: rawProvisioner.runAs,
                command: command, timeout: timeout)
        case .ssh:
            provisioner = try Self.sshProvisioner(rawProvisioner, source: source, state: state, abs: abs)
        }
        var images: [String: FleetConfig.Image] = [:]
        for (name, raw) in (self.images ?? [:]).sorted(by: { $0.key < $1.key }) {
            let at = "config \(source), image \(name)"
            if let reference = raw.docker?.image, !DockerNames.isImageReference(reference) {
                throw ConfigError(
                    "\(at): docker.image \"\(reference)\" is not an image reference (repository[:tag] or an image Id)")
            }
            switch kind {
            case .local where raw.binDirectory == nil, .ssh where raw.binDirectory == nil:
                throw ConfigError("\(at): the \(kind.rawValue) provisioner needs binDirectory")
            case .docker where raw.docker == nil:
                throw ConfigError(
                    "\(at): the docker provisioner needs docker.image (e.g. docker: {image: changeover/postgres:15-patched})"
                )
            default:
                break
            }
            images[name] = FleetConfig.Image(
                name: name, binDirectory: raw.binDirectory.map(abs) ?? "",
                environment: raw.environment ?? [:], docker: raw.docker?.image,
                labels: raw.labels ?? [:])
        }
        let fleetNotify = try Self.resolveNotify(fleet: notify, database: nil, source: source, name: nil)
        let resolver = DatabaseResolver(
            source: source, base: base, images: images, provisioner: kind,
            fleetNotify: notify, resolvedFleetNotify: fleetNotify)
        let databases = try resolveDatabases(resolver)
        var config = FleetConfig(
            stateDirectory: state, auditLog: abs(auditLog ?? "\(state)/audit.jsonl"),
            images: images, databases: databases, provisioner: provisioner, freezes: freezes ?? [])
        config.notify = fleetNotify
        config.resolver = resolver
        config.store = try resolveStore(source: source, base: base)
        try resolveScheduling(into: &config, source: source)
        return config
    }
}

extension RawConfig {
    /// `path` as it is when absolute, else relative to `base` (the config file's directory).
    /// The ssh provisioner: hosts with unique names and addresses, a login, an identity and a
    /// known-hosts file (strict checking has nothing to check without one).
    static func sshProvisioner(
        _ raw: RawProvisioner, source: String, state: String,
        abs: (String) -> String
    ) throws(ConfigError) -> FleetConfig.ProvisionerConfig {
        let at = "config \(source), provisioner"
        var hosts: [SSHHost] = []
        for (index, host) in (raw.hosts ?? []).enumerated() {
            guard let name = host.name, !name.isEmpty, let address = host.address, !address.isEmpty else {
                throw ConfigError("\(at).hosts[\(index)]: a host needs name and address")
            }
            guard !hosts.contains(where: { $0.name == name || $0.address == address }) else {
                throw ConfigError("\(at).hosts: host \(name) (\(address)) is listed twice")
            }
            let service = try host.service.map { word throws(ConfigError) in
                try sshService(word, at: "\(at).hosts[\(index)]")
            }
            hosts.append(
                SSHHost(
                    name: name, address: address, port: host.port ?? 22, labels: host.labels ?? [:],
                    root: host.root.map(abs),
                    service: service))
        }
        guard hosts.count >= 2 else {
            throw ConfigError(
                "\(at): the ssh provisioner needs provisioner.hosts, at least two (the primary's and one for its follower)"
            )
        }
        guard let identity = raw.identity, let knownHosts = raw.knownHosts else {
            throw ConfigError(
                "\(at): the ssh provisioner needs provisioner.identity (a private key) and provisioner.knownHosts (the hosts' keys)"
            )
        }
        for rule in (raw.placement ?? [:]).values where rule.isEmpty {
            throw ConfigError("\(at).placement: a rule is same, other or a label value")
        }
        let timeout =
            try raw.timeout.map { v throws(ConfigError) in try ConfigValue.duration(v, at: "\(at).timeout") }
            ?? .seconds(60)
        var config = FleetConfig.ProvisionerConfig(
            kind: .ssh, root: raw.root.map(abs) ?? "/var/lib/changeover/nodes",
            runAs: raw.runAs ?? "postgres", timeout: timeout)
        config.ssh = .init(
            hosts: hosts, user: raw.user ?? "root", identity: abs(identity), knownHosts: abs(knownHosts),
            placement: raw.placement ?? [:])
        if let service = raw.service { config.service = try sshService(service, at: at) }
        return config
    }

    /// A `service:` word of the ssh provisioner or one of its hosts.
    static func sshService(_ word: String, at: String) throws(ConfigError) -> FleetConfig.ProvisionerConfig.Service {
        switch FleetConfig.ProvisionerConfig.Service(rawValue: word) {
        case .auto?, .none?, .systemd?:
            return FleetConfig.ProvisionerConfig.Service(rawValue: word)!
        case .debianCluster?:
            throw ConfigError(
                "\(at).service: the ssh provisioner makes a follower a server in its node (auto, none) or with a systemd unit of its own (systemd), not a Debian cluster"
            )
        case nil:
            throw ConfigError("\(at): unknown service \"\(word)\" (known: auto, none, systemd)")
        }
    }

    static func absolute(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: base).appendingPathComponent(path).standardized.path
    }

    /// The exec provisioner's command: its program must be an executable file now (a relative
    /// path is the config file's directory's, a bare name is looked up in PATH), so that a typo
    /// fails before anything is touched.
    static func execCommand(_ words: [String], source: String, abs: (String) -> String) throws(ConfigError) -> [String]
    {
        guard let program = words.first, !program.isEmpty else {
            throw ConfigError(
                "config \(source): the exec provisioner needs provisioner.command (the program that makes and removes servers)"
            )
        }
        let resolved: String
        if program.contains("/") {
            resolved = abs(program)
        } else {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
            guard
                let found = path.split(separator: ":").map({ "\($0)/\(program)" })
                    .first(where: { FileManager.default.isExecutableFile(atPath: $0) })
            else {
                throw ConfigError("config \(source): provisioner.command \(program) is not a program on PATH")
            }
            resolved = found
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory) else {
            throw ConfigError("config \(source): provisioner.command \(resolved) does not exist")
        }
        guard !isDirectory.boolValue, FileManager.default.isExecutableFile(atPath: resolved) else {
            throw ConfigError("config \(source): provisioner.command \(resolved) is not an executable file")
        }
        return [resolved] + words.dropFirst()
    }
}

extension RawConfig.RawDatabase {
    func resolve(name: String, source: String, images: [String: FleetConfig.Image], base: String) throws(ConfigError)
        -> DatabaseConfig
    {
        let at = "config \(source), database \(name)"
        guard let engine = DatabaseConfig.EngineKind(rawValue: self.engine ?? "postgres") else {
            throw ConfigError("\(at): unknown engine \"\(self.engine ?? "")\" (known: postgres, redis)")
        }
        guard images[image] != nil else {
            throw ConfigError(
                "\(at): unknown image \"\(image)\" (the config defines: \(images.keys.sorted().joined(separator: ", ")))"
            )
        }
        let primary: DatabasePrimary
        do {
            primary = try DatabasePrimary.parse(self.primary, engine: engine)
        } catch {
            throw ConfigError("\(at): \(error.description)")
        }
        if let port = follower?.port, !(1...65535).contains(port) {
            throw ConfigError("\(at): follower port \(port) is out of range")
        }
        let followerPorts = try follower?.ports.map { text throws(ConfigError) in
            guard follower?.port == nil else { throw ConfigError("\(at): follower has port and ports; give one") }
            let bounds = text.split(separator: "-", omittingEmptySubsequences: false).map {
                Int($0.trimmingCharacters(in: .whitespaces))
            }
            guard bounds.count == 2, let low = bounds[0], let high = bounds[1], (1...65535).contains(low),
                (low...65535).contains(high)
            else {
                throw ConfigError("\(at): follower ports \"\(text)\" is not a range of ports like 5433-5440")
            }
            return low...high
        }
        let router = try resolveRouter(at: at, base: base)
        var catchUp = CatchUpPolicy()
        if let raw = self.catchUp {
            if let v = raw.maxLagBytes {
                catchUp.maxLagBytes = try ConfigValue.bytes(v, at: "\(at), catchUp.maxLagBytes")
            }
            if let v = raw.maxLagTime {
                catchUp.maxLagTime = try ConfigValue.duration(v, at: "\(at), catchUp.maxLagTime")
            }
            if let v = raw.holdFor { catchUp.holdFor = try ConfigValue.duration(v, at: "\(at), catchUp.holdFor") }
            if let v = raw.timeout { catchUp.timeout = try ConfigValue.duration(v, at: "\(at), catchUp.timeout") }
            if let v = raw.pollEvery { catchUp.pollEvery = try ConfigValue.duration(v, at: "\(at), catchUp.pollEvery") }
            if let v = raw.provisionTimeout {
                catchUp.provisionTimeout = try ConfigValue.duration(v, at: "\(at), catchUp.provisionTimeout")
            }
        }
        var switchover = SwitchoverPolicy()
        if let raw = self.switchover {
            if let v = raw.fenceTimeout {
                switchover.fenceTimeout = try ConfigValue.duration(v, at: "\(at), switchover.fenceTimeout")
            }
            if let v = raw.replayTimeout {
                switchover.replayTimeout = try ConfigValue.duration(v, at: "\(at), switchover.replayTimeout")
            }
            if let v = raw.promoteTimeout {
                switchover.promoteTimeout = try ConfigValue.duration(v, at: "\(at), switchover.promoteTimeout")
            }
            if let v = raw.verifyTimeout {
                switchover.verifyTimeout = try ConfigValue.duration(v, at: "\(at), switchover.verifyTimeout")
            }
            if let v = raw.connectTimeout {
                switchover.connectTimeout = try ConfigValue.duration(v, at: "\(at), switchover.connectTimeout")
            }
        }
        let defaultReplicationUser: String? =
            switch primary {
            case .postgres(let conninfo): conninfo.user ?? "postgres"
            case .redis(_, _, let user): user
            }
        let retireAfter =
            try self.retireAfter.map { v throws(ConfigError) in
                try ConfigValue.duration(v, at: "\(at), retireAfter")
            } ?? .seconds(24 * 3600)
        var database = DatabaseConfig(
            DatabaseConfig.Settings(
                name: name, engine: engine, image: image, primary: primary, container: container,
                password: password?.resolved(against: base),
                replicationUser: replication?.user ?? defaultReplicationUser,
                replicationPassword: (replication?.password ?? password)?.resolved(against: base),
                followerPort: follower?.port, followerPorts: followerPorts, router: router, catchUp: catchUp,
                switchover: switchover,
                retireAfter: retireAfter, windows: windows ?? [], freezes: freezes ?? []))
        for (key, value) in labels ?? [:] {
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || "-_./".contains($0) }) else {
                throw ConfigError("\(at), labels: bad label name \"\(key)\" (letters, digits, - _ . / only)")
            }
            guard !value.isEmpty, !value.contains(where: { $0.isWhitespace || $0.isNewline }) else {
                throw ConfigError("\(at), labels.\(key): the value must be one word, not \"\(value)\"")
            }
        }
        database.labels = labels ?? [:]
        database.followerListen = follower?.listen
        database.followerAdvertise = follower?.advertise
        database.oneOffWindows = try (oneOffWindows ?? []).map { text throws(ConfigError) in
            try RawConfig.oneOffWindow(text, at: "\(at), oneOffWindows")
        }
        return database
    }

    private func resolveRouter(at: String, base: String) throws(ConfigError) -> RouterConfig {
        guard let raw = router else { return RouterConfig(kind: .none, command: nil, timeout: .seconds(30)) }
        guard let kind = RouterConfig.Kind(rawValue: raw.kind) else {
            let known = RouterConfig.Kind.allCases.map(\.rawValue).sorted().joined(separator: ", ")
            throw ConfigError("\(at): unknown router kind \"\(raw.kind)\" (known: \(known))")
        }
        if kind == .hook, (raw.command ?? "").trimmingCharacters(in: .whitespaces).isEmpty {
            throw ConfigError("\(at): the hook router needs a command")
        }
        let timeout =
            try raw.timeout.map { v throws(ConfigError) in try ConfigValue.duration(v, at: "\(at), router.timeout") }
            ?? .seconds(30)
        var config = RouterConfig(kind: kind, command: raw.command, timeout: timeout)
        switch kind {
        case .none, .hook:
            break
        case .pgbouncer:
            try resolvePgBouncer(raw, into: &config, at: at, base: base)
        case .haproxy:
            try resolveHAProxy(raw, into: &config, at: at, base: base)
        }
        return config
    }

    private func required(_ value: String?, key: String, kind: String, at: String) throws(ConfigError) -> String {
        guard let value, !value.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ConfigError("\(at): the \(kind) router needs router.\(key)")
        }
        return value
    }

    private func resolvePgBouncer(_ raw: RawConfig.RawRouter, into config: inout RouterConfig, at: String, base: String)
        throws(ConfigError)
    {
        let text = try required(raw.admin, key: "admin", kind: "pgbouncer", at: at)
        var admin: ConnInfo
        do {
            admin = try ConnInfo(text)
        } catch {
            throw ConfigError("\(at): bad router.admin conninfo: \(error.message)")
        }
        if admin["password"] != nil {
            throw ConfigError(
                "\(at): router.admin holds a password; give it as router.password: {env: NAME} or {file: PATH}")
        }
        if admin.database == nil { admin["dbname"] = "pgbouncer" }
        guard admin.database == "pgbouncer" else {
            throw ConfigError("\(at): router.admin must name pgbouncer's admin console (dbname=pgbouncer)")
        }
        if let database = raw.database, database.isEmpty || database.contains(where: { $0.isWhitespace || $0 == "=" }) {
            throw ConfigError("\(at): router.database \"\(database)\" is not a pgbouncer database name")
        }
        let include = try required(raw.include, key: "include", kind: "pgbouncer", at: at)
        config.admin = admin
        config.password = raw.password?.resolved(against: base)
        config.database = raw.database
        config.include = RawConfig.absolute(include, base: base)
    }

    private func resolveHAProxy(_ raw: RawConfig.RawRouter, into config: inout RouterConfig, at: String, base: String)
        throws(ConfigError)
    {
        let socket = try required(raw.socket, key: "socket", kind: "haproxy", at: at)
        let backend = try required(raw.backend, key: "backend", kind: "haproxy", at: at)
        let server = try required(raw.server, key: "server", kind: "haproxy", at: at)
        for (key, name) in [("backend", backend), ("server", server)]
        where name.contains(where: { $0.isWhitespace || $0 == "/" }) {
            throw ConfigError("\(at): router.\(key) \"\(name)\" is not a haproxy \(key) name")
        }
        config.socket = RawConfig.absolute(socket, base: base)
        config.backend = backend
        config.server = server
    }
}

/// Parsers for the value forms the config accepts: "500ms", "10s", "2m", "1h"; "16MB", "1GiB".
public enum ConfigValue {
    /// A century, in seconds: longer than any timeout means something, far from Int64's limit.
    static let longestDuration: Double = 100 * 366 * 86_400

    public static func duration(_ text: String, at: String) throws(ConfigError) -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            // Bounded so that "1e300s" is an error, not a trap converting to Int64.
            if let value = Double(number), value >= 0, value * scale <= Self.longestDuration {
                return .milliseconds(Int64((value * scale * 1000).rounded()))
            }
        }
        throw ConfigError("\(at): \"\(text)\" is not a duration (use e.g. 500ms, 10s, 2m, 1h)")
    }

    public static func bytes(_ text: String, at: String) throws(ConfigError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int64)] = [
            ("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10),
            ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1), ("", 1),
        ]
        for (suffix, scale) in units where trimmed.hasSuffix(suffix) {
            let number = trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
            if let value = Int64(number), value >= 0 {
                let (bytes, overflow) = value.multipliedReportingOverflow(by: scale)
                if !overflow { return bytes }
            }
        }
        throw ConfigError("\(at): \"\(text)\" is not a size (use e.g. 16MB, 512kB, 1GiB)")
    }
}
