import Foundation
import PostgresClient
import Redaction
import Yams

/// The fleet as one YAML file describes it: images, databases, where followers are made, where
/// state and the audit log live. Parsing checks everything that can be checked without touching
/// a server, so bad input fails before anything is done.
public struct FleetConfig: Sendable {
    public var stateDirectory: String
    public var auditLog: String
    public var images: [String: Image]
    public var databases: [String: DatabaseConfig]
    public var provisioner: ProvisionerConfig
    /// Freeze periods for the whole fleet: no window opens inside them.
    public var freezes: [FreezePeriod]
    /// How switchovers are estimated and followers provisioned ahead of windows (`scheduling:`).
    public var scheduling = SchedulingPolicy()
    /// The daemon's listener, token and concurrency (`daemon:`); nil when the config has none.
    public var daemon: DaemonSettings? = nil
    /// Changeovers the daemon is to run (`schedule:`).
    public var scheduled: [ScheduledChangeover] = []
    /// Who is told about changeovers (`notify:`); each database has its own with its overrides.
    public var notify = NotifyConfig()
    /// Where the state store is (`store:`): SQLite in `stateDirectory` unless it names Postgres.
    public var store = StoreConfig()
    /// Which of `databases` came from the state store's inventory, and its rows that did not
    /// resolve (`FleetConfig+Inventory`).
    public var inventory = InventoryMerge()
    /// How the file's databases were resolved: the inventory's are resolved the same way.
    var resolver: DatabaseResolver? = nil
    /// The file it was loaded from, absolute; nil for a config parsed from text. Hints name it.
    public var path: String? = nil

    public struct Image: Sendable, Equatable {
        public var name: String
        /// The local provisioner: where the server's binaries are ("" for a docker-only image).
        public var binDirectory: String
        public var environment: [String: String]
        /// The docker provisioner: the image reference (`changeover/postgres:15-patched`).
        public var docker: String?
        /// The exec provisioner: whatever its command needs to know the image by (passed as they are).
        public var labels: [String: String]

        public init(
            name: String, binDirectory: String, environment: [String: String], docker: String? = nil,
            labels: [String: String] = [:]
        ) {
            self.name = name
            self.binDirectory = binDirectory
            self.environment = environment
            self.docker = docker
            self.labels = labels
        }
    }

    public struct ProvisionerConfig: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable { case local, docker, exec, ssh }
        public var kind: Kind
        /// Where follower data directories are made (local).
        public var root: String
        /// The OS user servers run as when the controller is root (local).
        public var runAs: String?
        /// How a follower is run (local): as the primary is (`auto`), as a bare server process in
        /// its node (`none`), as a Debian `postgresql-common` cluster or `redis-server@` instance
        /// (`debian-cluster`), or as a server process with a systemd unit of its own (`systemd`).
        public enum Service: String, Sendable, CaseIterable {
            case auto, none
            case debianCluster = "debian-cluster"
            case systemd
        }
        public var service: Service = .auto
        /// The Docker engine's unix socket (docker).
        public var socket: String? = nil
        /// Labels put on every container and volume the docker provisioner makes.
        public var labels: [String: String] = [:]
        /// The exec provisioner's program (an absolute path) and its arguments; the operation is appended.
        public var command: [String] = []
        /// How long one operation of the exec provisioner's command may take (create: the
        /// database's catchUp.provisionTimeout; stop: its switchover.fenceTimeout).
        public var timeout: Duration = .seconds(300)
        /// The ssh provisioner's hosts and how it logs in to them.
        public var ssh: SSH? = nil

        public struct SSH: Sendable, Equatable {
            public var hosts: [SSHHost]
            public var user: String
            public var identity: String
            public var knownHosts: String
            /// Label rules for the follower's host (`zone: same`, `zone: other`, `zone: eu-1`).
            public var placement: [String: String]
        }
    }

    /// The largest config file read: a database takes a few hundred bytes (10,000 of them with
    /// windows, labels and a schedule entry each: ~3 MB), and a file far larger is the wrong file
    /// or an attack on the YAML parser.
    public static let maximumFileSize = 16 << 20
    /// The deepest nesting of mappings and lists accepted (a config needs about 5): Yams
    /// recurses once per level and overflows the stack at a few thousand.
    public static let maximumNesting = 64

    /// Reads and checks a config file, then adds the databases of the state store's inventory
    /// (`mergeInventory`: a name in both is an error, a row that does not resolve is left out
    /// and listed in `inventory.invalid`). `mergingInventory: false` reads the file alone.
    /// `environment` holds the Postgres store's password. Errors name the file and the problem
    /// in one line; a store that cannot be read is one too.
    public static func load(
        path: String, mergingInventory: Bool = true,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> FleetConfig {
        let text = try readText(path)
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var config = try parse(consume text, source: path, relativeTo: base)
        config.path = URL(fileURLWithPath: path).standardizedFileURL.path
        if mergingInventory {
            do {
                try config.mergeInventory(environment: environment)
            } catch let error as ConfigError {
                throw error
            } catch {
                throw ConfigError(String(describing: error))
            }
        }
        return config
    }

    /// The file's text; its bytes are let go before it is parsed.
    public static func readText(_ path: String) throws(ConfigError) -> String {
        let data = try read(path)
        guard let text = String(data: data, encoding: .utf8) else {
            let at = firstInvalidUTF8(in: data).map { " (line \($0.line), column \($0.column))" } ?? ""
            throw ConfigError("config file \(path) is not UTF-8 text\(at)")
        }
        return text
    }

    /// The file's bytes, at most ``maximumFileSize`` of them read: `/dev/zero` or a huge file
    /// is refused without reading it all.
    static func read(_ path: String) throws(ConfigError) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigError("cannot read config file \(path)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maximumFileSize + 1) ?? Data()
        } catch {
            throw ConfigError("cannot read config file \(path)")
        }
        guard data.count <= maximumFileSize else {
            throw ConfigError(
                "config file \(path) is larger than \(maximumFileSize / (1 << 20)) MiB; a fleet config takes a few hundred bytes per database"
            )
        }
        return data
    }

    /// Where the first byte that is not UTF-8 is, counting lines and characters from 1.
    static func firstInvalidUTF8(in data: Data) -> (line: Int, column: Int)? {
        var iterator = data.makeIterator()
        var decoder = UTF8()
        var (line, column) = (1, 1)
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" { (line, column) = (line + 1, 1) } else { column += 1 }
            case .emptyInput:
                return nil
            case .error:
                return (line, column)
            }
        }
    }

    /// Checks and resolves a config's text. The databases are decoded and resolved one at a
    /// time, each stanza's node let go as soon as it is resolved: a fleet of 10,000 never has
    /// its composed document, its raw stanzas and its resolved databases in memory together.
    ///
    /// A key no setting reads (`catchup:` for `catchUp:`) is an error, and every one in the file
    /// is reported at once, one line each (`config F line 12: catchup: unknown key; did you mean
    /// catchUp?`), before any other problem the file has.
    public static func parse(_ text: consuming String, source: String = "config", relativeTo base: String = ".")
        throws(ConfigError) -> FleetConfig
    {
        try precheck(text, source: source)
        let malformed = "malformed config \(source)"
        let composed = try compose(text, malformed: malformed, apart: text.utf8.count > 1 << 16)
        _ = consume text  // the nodes hold what is needed of it
        guard let document = composed, kind(of: document) == nil else {
            throw ConfigError(
                "malformed config \(source): the document \(kind(of: composed) ?? ""), not a mapping of settings (provisioner:, images:, databases:, …)"
            )
        }
        let unknownKeys = UnknownKeys()
        func stanzaPath(_ name: String) -> [any CodingKey] { [NodeDecoder.Key("databases"), NodeDecoder.Key(name)] }
        /// `error` after the file's unknown keys, the stanzas not yet decoded searched for theirs.
        func reporting(_ error: ConfigError, unread stanzas: [(name: String, node: Node)]) -> ConfigError {
            for (name, node) in stanzas {
                _ = try? NodeDecoder.decode(
                    RawConfig.RawDatabase.self, from: node, codingPath: stanzaPath(name), unknownKeys: unknownKeys)
            }
            return unknownKeys.isEmpty
                ? error : unknownKeysError(unknownKeys, at: "config \(source) line ", then: error)
        }
        let raw: RawConfig
        do throws(ConfigError) {
            raw = try decode(RawConfig.self, from: document, malformed: malformed, unknownKeys: unknownKeys)
        } catch {
            throw reporting(error, unread: (try? databaseStanzas(document, source: source)) ?? [])
        }
        var stanzas = try databaseStanzas(consume document, source: source)
        let config: FleetConfig
        do throws(ConfigError) {
            config = try raw.resolve(source: source, base: base) { resolver throws(ConfigError) in
                var databases: [String: DatabaseConfig] = [:]
                databases.reserveCapacity(stanzas.count)
                while let (name, node) = stanzas.popLast() {
                    let stanza = try decode(
                        RawConfig.RawDatabase.self, from: node, malformed: malformed,
                        codingPath: stanzaPath(name), unknownKeys: unknownKeys)
                    databases[name] = try resolver.resolve(stanza, name: name)
                }
                return databases
            }
        } catch {
            throw reporting(error, unread: stanzas)
        }
        guard unknownKeys.isEmpty else { throw unknownKeysError(unknownKeys, at: "config \(source) line ") }
        return config
    }

    /// One line per unknown key, each after `at` and its line number
    /// (`config F line 12: catchup: unknown key; did you mean catchUp?`), then `error`'s lines.
    static func unknownKeysError(_ unknownKeys: UnknownKeys, at: String, then error: ConfigError? = nil) -> ConfigError
    {
        ConfigError(problems: unknownKeys.problems.map { "\(at)\($0.line): \($0.message)" } + (error?.lines ?? []))
    }

    /// The text's document (nil when it has none); a YAML error is thrown after `malformed`
    /// ("malformed config fleet.yaml").
    static func compose(_ text: String, malformed: String, apart: Bool = false) throws(ConfigError) -> Node? {
        do {
            return try apart ? NodeDecoder.composeApart(text) : NodeDecoder.compose(text)
        } catch let error as YamlError {
            throw ConfigError("\(malformed): \(describe(error, in: text))")
        } catch {
            throw ConfigError("\(malformed): \(oneLine(String(describing: error)))")
        }
    }

    /// What a document that is not a mapping is ("is a list"); nil for a mapping.
    static func kind(of document: Node?) -> String? {
        switch document {
        case nil: "is empty"
        case .sequence?: "is a list"
        case .scalar?: "is a single value"
        case .mapping?: nil
        }
    }

    /// `node` decoded as `type`, a decoding error as a one-line config error.
    static func decode<T: Decodable>(
        _ type: T.Type, from node: Node, malformed: String,
        codingPath: [any CodingKey] = [], unknownKeys: UnknownKeys? = nil
    ) throws(ConfigError) -> T {
        do {
            return try NodeDecoder.decode(type, from: node, codingPath: codingPath, unknownKeys: unknownKeys)
        } catch let error as DecodingError {
            throw ConfigError("\(malformed): \(describe(error))")
        } catch {
            throw ConfigError("\(malformed): \(oneLine(String(describing: error)))")
        }
    }

    /// The stanzas of the document's `databases:` by name, the last of a name winning as in any
    /// mapping, in reverse order of their names (taken from the end, they come in name order).
    /// The document is consumed: the stanzas' nodes are then held by the list alone.
    static func databaseStanzas(_ document: consuming Node, source: String) throws(ConfigError) -> [(
        name: String, node: Node
    )] {
        guard case .mapping(let settings) = document,
            let databases = NodeDecoder.pairs(of: settings).last(where: { $0.key.string == "databases" })?.value,
            databases.null != NSNull()
        else { return [] }
        guard case .mapping(let mapping) = databases else {
            throw ConfigError(
                "malformed config \(source): wrong type at databases: a mapping of database names to their settings is expected"
            )
        }
        var byName: [String: Node] = [:]
        for (key, value) in NodeDecoder.pairs(of: mapping) {
            guard let name = key.scalar?.string else {
                throw ConfigError(
                    "malformed config \(source): databases: a database's name must be text (line \(key.mark?.line ?? 0))"
                )
            }
            byName[NodeDecoder.detached(name)] = value
        }
        return byName.sorted { $0.key > $1.key }.map { (name: $0.key, node: $0.value) }
    }

    /// Refuses, before Yams sees it, text that would crash or swamp it: more than
    /// ``maximumFileSize`` bytes, NUL and control characters, nesting deeper than
    /// ``maximumNesting``, and aliases (with merge keys, a few lines of them expand to gigabytes;
    /// a config never needs one).
    static func precheck(_ text: String, source: String) throws(ConfigError) {
        guard text.utf8.count <= maximumFileSize else {
            throw ConfigError(
                "config \(source) is larger than \(maximumFileSize / (1 << 20)) MiB; a fleet config takes a few hundred bytes per database"
            )
        }
        guard let problem = YAMLPrescan.check(text, maximumDepth: maximumNesting) else { return }
        let detail =
            switch problem {
            case .nul(let line, let column):
                "line \(line), column \(column): a NUL byte; a config is text"
            case .controlCharacter(let value, let line, let column):
                "line \(line), column \(column): control character U+\(String(value, radix: 16, uppercase: true).leftPadded(to: 4)) is not allowed"
            case .tooDeep(let limit, let line, let column):
                "line \(line), column \(column): nested more than \(limit) levels deep; a config needs a handful"
            case .alias(let name, let line, let column):
                "line \(line), column \(column): alias *\(name): YAML aliases are not accepted in a config; write the value out"
            }
        throw ConfigError("malformed config \(source): \(detail)")
    }

    /// The database named `name`, or a one-line error listing the known ones.
    public func database(_ name: String) throws(ConfigError) -> DatabaseConfig {
        guard let db = databases[name] else {
            let known = databases.keys.sorted().joined(separator: ", ")
            throw ConfigError("unknown database \"\(name)\" (the config defines: \(known.isEmpty ? "none" : known))")
        }
        return db
    }

    /// When `database` may be interrupted: its windows minus its own and the fleet's freezes.
    public func schedule(for database: DatabaseConfig) -> WindowSchedule {
        WindowSchedule(windows: database.windows, freezes: freezes + database.freezes, oneOff: database.oneOffWindows)
    }

    /// The image named `name`, or a one-line error listing the known ones.
    public func image(_ name: String) throws(ConfigError) -> Image {
        guard let image = images[name] else {
            let known = images.keys.sorted().joined(separator: ", ")
            throw ConfigError("unknown image \"\(name)\" (the config defines: \(known.isEmpty ? "none" : known))")
        }
        return image
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let at = path(context.codingPath)
            return "missing key \"\(key.stringValue)\"\(at.isEmpty ? "" : " in \(at)")"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath)): \(oneLine(context.debugDescription))"
        case .dataCorrupted(let context):
            let at = path(context.codingPath)
            let detail =
                switch context.underlyingError {
                case let yaml as YamlError: describe(yaml, in: "")
                case let other?: oneLine(String(describing: other))
                case nil: oneLine(context.debugDescription)
                }
            return at.isEmpty ? detail : "\(at): \(detail)"
        @unknown default:
            return oneLine(String(describing: error))
        }
    }

    /// Where and what, without Yams's snippet of the file: that snippet can be any length and
    /// can hold a password someone pasted into the config.
    static func describe(_ error: YamlError, in text: String) -> String {
        func context(_ context: YamlError.Context?) -> String {
            context.map { "\($0.text) at line \($0.mark.line), column \($0.mark.column): " } ?? ""
        }
        switch error {
        case .scanner(let c, let problem, let mark, _), .parser(let c, let problem, let mark, _),
            .composer(let c, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(context(c))\(oneLine(problem))"
        case .reader(let problem, let offset, _, _):
            guard let offset else { return oneLine(problem) }
            let before = text.utf8.prefix(offset)
            let line = before.count { $0 == UInt8(ascii: "\n") } + 1
            let column =
                before.count
                - (before.lastIndex(of: UInt8(ascii: "\n")).map { before.distance(from: before.startIndex, to: $0) + 1 }
                    ?? 0) + 1
            return "line \(line), column \(column): \(oneLine(problem))"
        default:
            return oneLine(error.description)
        }
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }.joined(separator: " ")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// A problem with the configuration, in one line; or several problems, one line each.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// One line per problem, each of at most ``maximumLength`` characters: line breaks in quoted
    /// input become spaces and an overlong message (a huge value quoted back) is cut with "…".
    /// A password pasted where it does not belong (`password=…`, `scheme://user:pass@`) is
    /// shown as `********`.
    public var description: String
    public init(_ description: String) {
        var text = description.split(whereSeparator: \.isNewline).joined(separator: " ")
        text = Self.maskingPasswords(in: text)
        if text.count > Self.maximumLength { text = text.prefix(Self.maximumLength - 1) + "…" }
        self.description = text
    }

    /// Several problems, one line each: at most ``maximumProblems`` of them, then how many more.
    public init(problems: [String]) {
        var lines = problems.prefix(Self.maximumProblems).map { ConfigError($0).description }
        if problems.count > Self.maximumProblems {
            lines.append("… and \(problems.count - Self.maximumProblems) more problems")
        }
        description = lines.joined(separator: "\n")
    }

    /// The problems, one line each.
    public var lines: [String] { description.split(separator: "\n").map(String.init) }

    public static let maximumLength = 300
    /// The most problems one error lists: a fleet of 10,000 with one misspelling copied into
    /// each would otherwise print 10,000 lines.
    public static let maximumProblems = 100

    /// `password=value` (bare or quoted) and the password of a URL's user info, masked (see
    /// ``Redaction/maskingPasswords(in:)``).
    static func maskingPasswords(in text: String) -> String { Redaction.maskingPasswords(in: text) }
}

/// One database: how to reach its primary, which image it runs, how to change it over.
/// One database as the config resolved it. Its settings are kept in one allocation of their
/// own, shared until one copy changes (a fleet's dictionary of 10,000 holds a pointer each rather
/// than every policy inline); they read as the database's own properties (`database.windows`).
@dynamicMemberLookup
public struct DatabaseConfig: Sendable {
    public struct Settings: Sendable {
        public var name: String
        public var engine: EngineKind
        public var image: String
        /// How to reach the primary, as configured (or as the last changeover left it), without a password.
        public var primary: DatabasePrimary
        /// The docker provisioner: the container the primary runs in (as configured, or as the last
        /// changeover left it).
        public var container: String?
        public var password: Secret?
        /// Postgres: the role base backups and the follower stream as. Redis: the ACL user the
        /// follower authenticates to the primary as (masteruser); nil for the default user.
        public var replicationUser: String?
        public var replicationPassword: Secret?
        /// A fixed port for the next follower (clients may list it in a multi-host conninfo); free port when nil.
        public var followerPort: Int?
        /// Ports a follower may take (`follower.ports`): each changeover takes the first free one
        /// that is not its primary's, so that a database changes over again and again.
        public var followerPorts: ClosedRange<Int>? = nil
        /// Where a local follower listens (`follower.listen`); 127.0.0.1 when nil.
        public var followerListen: String? = nil
        /// The host a follower is reached at (`follower.advertise`); the listen address when nil
        /// (127.0.0.1 for a wildcard one).
        public var followerAdvertise: String? = nil
        public var router: RouterConfig
        public var catchUp: CatchUpPolicy
        public var switchover: SwitchoverPolicy
        /// How long the old primary is kept (stopped for Postgres, a replica for Redis) before it is retired.
        public var retireAfter: Duration
        /// Weekly maintenance windows ("Sundays 22:00 Europe/Berlin", "sun:22:00-sun:23:30", or explicit).
        public var windows: [MaintenanceWindow]
        public var freezes: [FreezePeriod]
        /// Openings that happen once ("2026-05-01T22:00:00+02:00 for 2h"): a slot agreed with the
        /// customer outside the weekly windows. Any length; the fit rule decides whether it is used.
        public var oneOffWindows: [WindowOpening] = []
        /// Free-form labels (`tier: production`); a campaign orders its waves by `tier`.
        public var labels: [String: String] = [:]
        /// Who is told about this database's changeovers: the fleet's `notify:` with the database's
        /// own keys over it.
        public var notify = NotifyConfig()
    }

    private final class Box: @unchecked Sendable {
        // Changed only through a reference known to be the only one (see the setter below).
        var settings: Settings
        init(_ settings: Settings) { self.settings = settings }
    }

    private var box: Box

    init(_ settings: Settings) { box = Box(settings) }

    public var settings: Settings { box.settings }

    public subscript<Value>(dynamicMember key: WritableKeyPath<Settings, Value>) -> Value {
        get { box.settings[keyPath: key] }
        set {
            if !isKnownUniquelyReferenced(&box) { box = Box(box.settings) }
            box.settings[keyPath: key] = newValue
        }
    }

    public enum EngineKind: String, Sendable, Codable { case postgres, redis }
}

/// The primary's address in the engine's own form.
public enum DatabasePrimary: Sendable, Equatable {
    /// A libpq conninfo (key=value or URL) without a password.
    case postgres(ConnInfo)
    /// A Redis server; `user` is the ACL user the controller logs in as (nil: the default user).
    case redis(host: String, port: Int, user: String?)

    /// Parses `text` as `engine` writes addresses: a conninfo, or `host:port` / `redis://[user@]host:port`.
    public static func parse(_ text: String, engine: DatabaseConfig.EngineKind) throws(ConfigError) -> DatabasePrimary {
        switch engine {
        case .postgres:
            let conninfo: ConnInfo
            do {
                conninfo = try ConnInfo(text)
            } catch {
                throw ConfigError("bad primary conninfo: \(error.message)")
            }
            if conninfo["password"] != nil {
                throw ConfigError(
                    "the primary conninfo holds a password; give it as password: {env: NAME} or {file: PATH}")
            }
            return .postgres(conninfo)
        case .redis:
            // Not quoted: a cut-off quote could show the start of a password.
            guard text.utf8.count <= 1_000 else {
                throw ConfigError(
                    "bad Redis primary address of \(text.utf8.count) bytes (use host:port or redis://[user@]host:port)")
            }
            var rest = Substring(text.trimmingCharacters(in: .whitespaces))
            if rest.hasPrefix("redis://") { rest = rest.dropFirst("redis://".count) }
            while rest.hasSuffix("/") { rest = rest.dropLast() }
            var user: String?
            if let at = rest.lastIndex(of: "@") {
                let credentials = rest[..<at]
                if credentials.contains(":") {
                    throw ConfigError(
                        "the primary address holds a password; give it as password: {env: NAME} or {file: PATH}")
                }
                user = credentials.isEmpty ? nil : String(credentials)
                rest = rest[rest.index(after: at)...]
            }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]),
                (1...65535).contains(port), colon > rest.startIndex
            else {
                // "redis://user:secret" (the host forgotten) would otherwise be quoted back whole.
                let shown =
                    text.contains("://") && text.contains(where: { $0 == "@" }) == false
                        && text.split(separator: "://", maxSplits: 1).last?.contains(":") == true
                    ? String(text[..<text.lastIndex(of: ":")!]) + ":…" : text
                throw ConfigError("bad Redis primary address \"\(shown)\" (use host:port or redis://[user@]host:port)")
            }
            return .redis(host: String(rest[..<colon]), port: port, user: user)
        }
    }

    /// The address written to the state store and given to clients (no password).
    public var address: String {
        switch self {
        case .postgres(let conninfo): conninfo.with("password", nil).description
        case .redis(let host, let port, let user): "redis://\(user.map { "\($0)@" } ?? "")\(host):\(port)"
        }
    }

    public var host: String {
        switch self {
        case .postgres(let conninfo): conninfo.host ?? "localhost"
        case .redis(let host, _, _): host
        }
    }

    public var port: Int {
        switch self {
        case .postgres(let conninfo): conninfo.port ?? 5432
        case .redis(_, let port, _): port
        }
    }

    public var endpoint: Endpoint { Endpoint(host: host, port: port, address: address) }
}

public struct RouterConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case none, hook, pgbouncer, haproxy }
    public var kind: Kind
    public var command: String?
    /// The deadline of one router action (the hook's command, one admin console or runtime API call).
    public var timeout: Duration

    // pgbouncer
    /// The admin console's conninfo (host, port, user; dbname is `pgbouncer`), without a password.
    public var admin: ConnInfo? = nil
    public var password: Secret? = nil
    /// The database's name in pgbouncer's `[databases]`; the changeover's database name when nil.
    public var database: String? = nil
    /// The file pgbouncer `%include`s that holds the database's `[databases]` line.
    public var include: String? = nil

    // haproxy
    /// The runtime API's unix socket (`stats socket … level admin`).
    public var socket: String? = nil
    public var backend: String? = nil
    public var server: String? = nil
}

/// When a follower counts as caught up, and how long to wait for it.
public struct CatchUpPolicy: Sendable, Equatable {
    public var maxLagBytes: Int64 = 16 * 1024 * 1024
    public var maxLagTime: Duration = .seconds(1)
    /// Lag must stay under both thresholds this long before the switchover starts.
    public var holdFor: Duration = .seconds(2)
    public var timeout: Duration = .seconds(30 * 60)
    public var pollEvery: Duration = .milliseconds(200)
    public var provisionTimeout: Duration = .seconds(6 * 3600)
}

/// Deadlines for the steps of the switchover itself.
public struct SwitchoverPolicy: Sendable, Equatable {
    public var fenceTimeout: Duration = .seconds(60)
    public var replayTimeout: Duration = .seconds(10)
    public var promoteTimeout: Duration = .seconds(30)
    public var verifyTimeout: Duration = .seconds(10)
    public var connectTimeout: Duration = .seconds(5)
}
