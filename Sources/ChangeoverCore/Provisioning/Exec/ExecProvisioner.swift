import Foundation
import PostgresClient
import Synchronization

/// Makes followers and manages servers through an operator's command, so that any platform
/// (Kubernetes, Terraform, a cloud API) can be plugged in: the command is run as
/// `COMMAND… OPERATION` with one JSON object on stdin and prints one JSON object on stdout
/// (`ExecCommand`; the contract is in docs/exec-provisioner.md).
///
/// Operations: `create`, `describe` and `destroy` for this changeover's follower; `status`,
/// `stop`, `controldata`, `start`, `drop-slot` and `retire` for a server named by a `server`
/// object (the old primary, or the follower); `describe-image` and `check` (both optional).
/// Every operation must be idempotent: a controller resumed after a crash repeats the one it
/// was in.
public struct ExecProvisioner: Provisioner {
    public var command: ExecCommand
    public var changeover: String
    public var database: String
    public var engine: DatabaseConfig.EngineKind
    /// The database's current primary, as the config or the state store knows it.
    public var primary: Endpoint
    public var listenAddress: String { "the host \(command.name) picks" }
    let seen = RunningCache()

    public init(
        command: ExecCommand, changeover: String, database: String, engine: DatabaseConfig.EngineKind, primary: Endpoint
    ) {
        self.command = command
        self.changeover = changeover
        self.database = database
        self.engine = engine
        self.primary = primary
    }

    /// Remembers for a second that a server answered `running`, so that polling loops do not
    /// start the command every few milliseconds. A stop forgets it.
    final class RunningCache: Sendable {
        private let lastSeen = Mutex<[String: ContinuousClock.Instant]>([:])

        func recently(_ key: String) -> Bool {
            lastSeen.withLock { $0[key].map { ContinuousClock.now - $0 < .seconds(1) } ?? false }
        }

        func saw(_ key: String) { lastSeen.withLock { $0[key] = .now } }
        func forget(_ key: String) { lastSeen.withLock { $0[key] = nil } }
    }

    /// What every request carries.
    func base(changeover: String? = nil) -> [String: JSONValue] {
        [
            "changeover": .string(changeover ?? self.changeover), "database": .string(database),
            "engine": .string(engine.rawValue),
        ]
    }

    static func image(_ image: FleetConfig.Image) -> JSONValue {
        var fields: [String: JSONValue] = ["name": .string(image.name), "labels": .strings(image.labels)]
        if !image.binDirectory.isEmpty { fields["binDirectory"] = .string(image.binDirectory) }
        if !image.environment.isEmpty { fields["environment"] = .strings(image.environment) }
        return .object(fields)
    }

    /// A server as the command is told about it.
    static func server(host: String, port: Int, dataDirectory: String?, facts: [String: String] = [:]) -> JSONValue {
        var fields: [String: JSONValue] = [
            "host": .string(host), "port": .number(Double(port)), "facts": .strings(facts),
        ]
        if let dataDirectory { fields["dataDirectory"] = .string(dataDirectory) }
        return .object(fields)
    }

    /// The old primary, from the changeover's facts.
    func oldServer(_ facts: Facts) -> JSONValue {
        Self.server(host: primary.host, port: primary.port, dataDirectory: facts.oldDataDirectory)
    }

    /// The follower, from the facts its `create` (or `describe`) gave: `follower.KEY` → `KEY`.
    func followerServer(_ facts: Facts) throws -> JSONValue {
        guard let host = facts.followerHost, let port = facts.followerPort else {
            throw EngineError("no follower was provisioned")
        }
        var own: [String: String] = [:]
        for (key, value) in facts where key.hasPrefix("follower.") && key != "follower.host" && key != "follower.port" {
            own[String(key.dropFirst("follower.".count))] = value
        }
        return Self.server(host: host, port: port, dataDirectory: own["dataDirectory"], facts: own)
    }

    /// A `create` or `describe` reply as a follower: `host`, `port` and `facts` (stored as `follower.KEY`).
    func follower(from reply: [String: JSONValue], operation: String) throws -> Follower {
        guard let host = reply["host"]?.string, !host.isEmpty, let port = reply["port"]?.int, (1...65535).contains(port)
        else {
            throw ProvisionError(
                "exec provisioner: \(operation) did not say where the follower listens (\"host\" and \"port\")")
        }
        var facts: [String: String] = [:]
        for (key, value) in reply["facts"]?.textDictionary ?? [:] { facts["follower.\(key)"] = value }
        return Follower(host: host, port: port, facts: facts)
    }

    public func check(followerPort: Int?) async -> PreflightCheck {
        let program = command.argv.first ?? ""
        guard FileManager.default.isExecutableFile(atPath: program) else {
            return PreflightCheck("provisioner", passed: false, "exec: \(program) is not an executable file")
        }
        var request = base()
        if let followerPort { request["port"] = .number(Double(followerPort)) }
        do {
            guard let reply = try await command.call("check", request, optional: true) else {
                return PreflightCheck("provisioner", passed: true, "exec: \(program) (it has no check)")
            }
            let ok = reply["ok"]?.bool ?? false
            let message = reply["message"]?.string ?? (ok ? "ready" : "not ready")
            return PreflightCheck("provisioner", passed: ok, "exec: \(command.name): \(message)")
        } catch {
            return PreflightCheck("provisioner", passed: false, "\(error)")
        }
    }

    public func followerPlacement(changeover: String, engine: DatabaseConfig.EngineKind) -> String {
        "made by \(command.name) (exec provisioner)"
    }

    // MARK: images

    struct ImageDescription {
        var id: String?
        var version: String?
        var facts: [String: String]
    }

    /// `describe-image` (optional): nil when the command does not describe images.
    func describe(_ image: FleetConfig.Image) async throws -> ImageDescription? {
        var request = base()
        request["image"] = Self.image(image)
        guard let reply = try await command.call("describe-image", request, optional: true) else { return nil }
        return ImageDescription(
            id: reply["id"]?.text, version: reply["version"]?.text, facts: reply["facts"]?.textDictionary ?? [:])
    }

    /// Two names are two images, unless the command gives both the same Id.
    public func newImageCheck(from: FleetConfig.Image, to: FleetConfig.Image) async -> PreflightCheck {
        guard from.name != to.name else {
            return PreflightCheck("new image", passed: false, "the database already runs \(to.name)")
        }
        do {
            let old = try await describe(from)
            let new = try await describe(to)
            if let oldID = old?.id, let newID = new?.id, oldID == newID {
                return PreflightCheck(
                    "new image", passed: false,
                    "\(from.name) and \(to.name) are the same image (\(newID)): the new image is not different")
            }
            let label = { (name: String, id: String?) in id.map { "\(name) (\($0))" } ?? name }
            return PreflightCheck(
                "new image", passed: true, "\(label(from.name, old?.id)) → \(label(to.name, new?.id))")
        } catch {
            return PreflightCheck("new image", passed: false, "\(error)")
        }
    }

    public func imageChecks(
        from: FleetConfig.Image, to: FleetConfig.Image,
        engine: DatabaseConfig.EngineKind
    ) async -> (checks: [PreflightCheck], newVersion: String?) {
        do {
            guard let new = try await describe(to) else {
                return (
                    [
                        PreflightCheck(
                            "image \(to.name)", passed: true,
                            "\(command.name) does not describe images; the server version is not checked")
                    ], nil
                )
            }
            let server = engine == .postgres ? "PostgreSQL" : "Redis"
            return (
                [
                    PreflightCheck(
                        "image \(to.name)", passed: true,
                        new.version.map { "\(server) \($0)" } ?? "\(command.name) gave no version")
                ], new.version
            )
        } catch {
            return ([PreflightCheck("image \(to.name)", passed: false, "\(error)")], nil)
        }
    }

    /// `image.from.id`, `image.from.KEY`…, `image.to.…` from `describe-image`; empty when the
    /// command does not describe images.
    public func imageFacts(from: FleetConfig.Image, to: FleetConfig.Image) async throws -> Facts {
        guard let old = try await describe(from), let new = try await describe(to) else { return [:] }
        if let oldID = old.id, oldID == new.id {
            throw ProvisionError("the new image \(to.name) is \(from.name) under another name (\(oldID))")
        }
        var facts: Facts = [:]
        for (side, image) in [("from", old), ("to", new)] {
            for (key, value) in image.facts { facts["image.\(side).\(key)"] = value }
            facts["image.\(side).id"] = image.id
            facts["image.\(side).version"] = image.version
        }
        return facts
    }

    // MARK: Postgres

    /// The command finds the primary and can manage it: `status` says it runs.
    public func primaryCheck(dataDirectory: String, port: String, image: FleetConfig.Image) async -> PreflightCheck {
        var request = base()
        request["role"] = "old-primary"
        request["server"] = Self.server(
            host: primary.host, port: Int(port) ?? primary.port, dataDirectory: dataDirectory)
        do {
            let running = try await command.require("status", request)["running"]?.bool ?? false
            return PreflightCheck(
                "primary managed", passed: running,
                running
                    ? "\(command.name) manages \(primary) (data directory \(dataDirectory))"
                    : "\(command.name) finds no running server \(primary) with data directory \(dataDirectory); it could not fence it"
            )
        } catch {
            return PreflightCheck("primary managed", passed: false, "\(error)")
        }
    }

    public func oldPrimaryFacts(dataDirectory: String) -> Facts { [:] }

    public func oldPostgres(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        guard facts.oldDataDirectory != nil else {
            throw EngineError("the old primary's data directory is unknown")
        }
        var request = base()
        request["role"] = "old-primary"
        request["server"] = oldServer(facts)
        request["image"] = Self.image(image)
        return ExecPostgres(command: command, request: request, role: "old-primary", endpoint: primary.description)
    }

    public func postgresFollower(_ facts: Facts, image: FleetConfig.Image) throws -> any ManagedPostgres {
        var request = base()
        request["role"] = "follower"
        request["server"] = try followerServer(facts)
        request["image"] = Self.image(image)
        return ExecPostgres(
            command: command, request: request, role: "follower",
            endpoint: "\(facts.followerHost ?? "?"):\(facts["follower.port"] ?? "?")", seen: seen)
    }

    /// `describe` → `{"running": true, "host": …, "port": …, "facts": {…}}` for a follower that runs.
    func runningFollower(changeover: String, image: FleetConfig.Image?) async throws -> Follower? {
        var request = base(changeover: changeover)
        if let image { request["image"] = Self.image(image) }
        let reply = try await command.require("describe", request)
        guard reply["running"]?.bool == true else { return nil }
        seen.saw("follower")
        return try follower(from: reply, operation: "describe")
    }

    public func runningPostgresFollower(changeover: String, image: FleetConfig.Image) async throws -> Follower? {
        try await runningFollower(changeover: changeover, image: image)
    }

    /// `create` with the source's conninfo (no password: that is `source.password`), the slot
    /// and the port; the command base-backs-up through the slot and starts a standby whose
    /// primary_conninfo carries application_name = the slot.
    public func createPostgresFollower(
        changeover: String, image: FleetConfig.Image, source: ConnInfo, slot: String, port: Int?,
        layout: PostgresLayout?,
        timeout: Duration, progress: @escaping @Sendable (String) -> Void
    ) async throws -> Follower {
        let conninfo = source.with("password", nil).with("dbname", nil).with("replication", nil)
            .with("target_session_attrs", nil).with("application_name", slot)
        var sourceFields: [String: JSONValue] = [
            "conninfo": .string(conninfo.connectionString), "host": .string(conninfo.host ?? ""),
            "port": .number(Double(conninfo.port ?? 5432)), "user": .string(conninfo.user ?? ""),
        ]
        let password = source["password"]
        if let password { sourceFields["password"] = .string(password) }
        var request = base(changeover: changeover)
        request["image"] = Self.image(image)
        request["source"] = .object(sourceFields)
        request["slot"] = .string(slot)
        request["port"] = port.map { .number(Double($0)) } ?? .null
        progress("\(command.name) create: base backup through slot \(slot)")
        let clock = ContinuousClock()
        let started = clock.now
        let reply = try await command.require(
            "create", request, timeout: max(timeout, command.timeout),
            secrets: password.map { [$0] } ?? [])
        var follower = try follower(from: reply, operation: "create")
        follower.facts["basebackup.seconds"] = String(format: "%.2f", (clock.now - started).seconds)
        progress("\(command.name) create: follower at \(follower.host):\(follower.port)")
        return follower
    }

    /// `destroy`: the follower and everything it had, gone (nothing there is fine).
    public func removePostgresFollower(changeover: String, facts: Facts, image: FleetConfig.Image, timeout: Duration)
        async throws
    {
        try await destroy(changeover: changeover, facts: facts, timeout: timeout)
    }

    func destroy(changeover: String, facts: Facts, timeout: Duration) async throws {
        seen.forget("follower")
        var request = base(changeover: changeover)
        if let server = try? followerServer(facts) { request["server"] = server }
        _ = try await command.require("destroy", request, timeout: max(timeout, command.timeout))
    }

    /// `retire` of the stopped old primary: the command says what it did.
    public func retireOldPostgres(_ facts: Facts, image: FleetConfig.Image) async throws -> String {
        var request = base()
        request["role"] = "old-primary"
        request["server"] = oldServer(facts)
        request["image"] = Self.image(image)
        let reply = try await command.require("retire", request)
        return reply["message"]?.string ?? "\(command.name) retired the old primary"
    }

    // MARK: Redis

    public func runningRedisFollower(changeover: String) async throws -> Follower? {
        try await runningFollower(changeover: changeover, image: nil)
    }

    /// `create` with `settings` (redis.conf directives in order, values quoted as redis.conf reads
    /// them) and `acl` (ACL file lines); passwords are in them, so they travel on stdin only.
    public func createRedisFollower(
        changeover: String, image: FleetConfig.Image, port: Int?, settings: [(String, String)],
        acl: String?, primaryConfigFile: String?, primaryBind: String?, timeout: Duration
    ) async throws -> Follower {
        var request = base(changeover: changeover)
        request["image"] = Self.image(image)
        request["settings"] = .array(settings.map { .array([.string($0.0), .string($0.1)]) })
        request["acl"] = acl.map { .string($0) } ?? .null
        request["port"] = port.map { .number(Double($0)) } ?? .null
        var secrets: [String] = []
        for (key, value) in settings where ["masterauth", "requirepass"].contains(key) {
            secrets += [value, Self.unquote(value)]
        }
        let reply = try await command.require(
            "create", request, timeout: max(timeout, command.timeout), secrets: secrets)
        return try follower(from: reply, operation: "create")
    }

    /// `"a\"b"` → `a"b`, as redis.conf reads a quoted argument.
    static func unquote(_ value: String) -> String {
        guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return value }
        return String(value.dropFirst().dropLast()).replacingOccurrences(of: "\\\"", with: "\"")
            .replacingOccurrences(of: "\\\\", with: "\\")
    }

    public func isRedisFollowerRunning(changeover: String, facts: Facts) async -> Bool {
        if seen.recently("follower") { return true }
        return ((try? await runningFollower(changeover: changeover, image: nil)) ?? nil) != nil
    }

    public func removeRedisFollower(changeover: String, facts: Facts, timeout: Duration) async throws {
        try await destroy(changeover: changeover, facts: facts, timeout: timeout)
    }

    /// `retire` of the old primary, which the engine has shut down already.
    public func retireOldRedis(_ facts: Facts) async throws -> String? {
        var request = base()
        request["role"] = "old-primary"
        request["server"] = oldServer(facts)
        return try await command.require("retire", request)["message"]?.string
    }
}
