import Foundation

/// One finding of `changeover check`: what was looked at, whether it is usable, and why not.
/// Offline findings read the config, the secrets, the images' bin directories and the state
/// store's campaigns; `preflight` findings (one per database) ask its servers, read-only.
public struct FleetCheck: Sendable, Codable, Equatable {
    public enum Scope: String, Sendable, Codable { case config, secret, image, windows, campaign, preflight }
    public var scope: Scope
    /// The database, image or campaign the finding is about (the config's path for `config`).
    public var subject: String
    public var passed: Bool
    public var detail: String

    public init(_ scope: Scope, _ subject: String, passed: Bool, _ detail: String) {
        self.scope = scope
        self.subject = subject
        self.passed = passed
        self.detail = detail
    }

    /// Everything that can be checked without a server: every secret readable (a file only by its
    /// owner), every image's bin directory holding the binaries of the engines that use it, each
    /// database's next window opening, the databases and images of unfinished campaigns. With
    /// `only`, the findings about that database (its secrets, its image, its windows) alone.
    /// Never holds a secret's value: a secret is named by where it comes from.
    public static func offline(
        _ config: FleetConfig, only: String? = nil, campaigns: [Campaign] = [], now: Date,
        environment: [String: String]
    ) -> [FleetCheck] {
        let databases = config.databases.values.filter { only == nil || $0.name == only }.sorted { $0.name < $1.name }
        var checks: [FleetCheck] = []

        func secret(_ secret: Secret?, _ what: String, of subject: String) {
            guard let secret else { return }
            do {
                _ = try secret.value(environment: environment)
                checks.append(FleetCheck(.secret, subject, passed: true, "\(what) from \(secret) is readable"))
            } catch {
                checks.append(FleetCheck(.secret, subject, passed: false, "\(what): \(error.description)"))
            }
        }
        if only == nil, config.store.kind == .postgres { secret(config.store.password, "store password", of: "store") }
        for database in databases {
            secret(database.password, "password", of: database.name)
            // Redis's replication login defaults to the primary's: the same secret, checked once.
            if database.replicationPassword != database.password {
                secret(database.replicationPassword, "replication password", of: database.name)
            }
            secret(database.router.password, "router password", of: database.name)
        }

        // The engines each image serves: as the image a database runs now, or one a schedule entry
        // or campaign changes it over to.
        var engines: [String: Set<DatabaseConfig.EngineKind>] = [:]
        for database in config.databases.values { engines[database.image, default: []].insert(database.engine) }
        for entry in config.scheduled {
            if let database = config.databases[entry.database] {
                engines[entry.image, default: []].insert(database.engine)
            }
        }
        let images =
            only == nil
            ? Set(config.images.keys)
            : Set(databases.map(\.image) + config.scheduled.filter { $0.database == only }.map(\.image))
        if only == nil, config.provisioner.kind == .local, let problem = nodesUnreachable(config) {
            checks.append(FleetCheck(.config, "provisioner", passed: false, problem))
        }
        if config.provisioner.kind == .local {
            for name in images.sorted() {
                guard let image = config.images[name] else { continue }
                checks.append(imageCheck(image, engines: engines[name] ?? []))
            }
        }

        for database in databases {
            let schedule = config.schedule(for: database)
            guard !database.windows.isEmpty || !database.oneOffWindows.isEmpty else {
                checks.append(
                    FleetCheck(
                        .windows, database.name, passed: true,
                        "no maintenance windows: changeovers switch only with --now or a deadline"))
                continue
            }
            let zone = ChangeoverRunner.zone(of: database)
            guard let next = schedule.openings(after: now, count: 1).first else {
                checks.append(
                    FleetCheck(
                        .windows, database.name, passed: false,
                        "no window opens within a year (freezes cover them all?)"))
                continue
            }
            let open = next.contains(now) ? " (open now)" : ""
            checks.append(
                FleetCheck(
                    .windows, database.name, passed: true,
                    "next opening \(ScheduleText.local(next.start, zone)) (\(ScheduleText.iso(next.start))) for "
                        + "\(ScheduleText.duration(since: next.start, until: next.end))\(open)"))
        }

        for campaign in campaigns where campaign.state == .running || campaign.state == .halted {
            let waiting = campaign.waves.flatMap(\.members).filter {
                $0.outcome == nil && (only == nil || $0.database == only)
            }
            guard only == nil || !waiting.isEmpty else { continue }
            let problems = waiting.compactMap { member -> String? in
                if config.databases[member.database] == nil {
                    return "database \(member.database) is not in the config"
                }
                if config.images[member.image] == nil {
                    return "image \(member.image) (for \(member.database)) is not in the config"
                }
                return nil
            }
            checks.append(
                FleetCheck(
                    .campaign, campaign.id, passed: problems.isEmpty,
                    problems.isEmpty
                        ? "\(campaign.waves.count) wave(s), \(waiting.count) database(s) still to change over, all in the config"
                        : problems.joined(separator: "; ")))
        }
        return checks
    }

    /// Why the servers' user could not enter `provisioner.root`, when it lies inside the state
    /// directory and that is (or will be, made by the state store) 0700 for root alone. Nil when it can.
    static func nodesUnreachable(_ config: FleetConfig, uid: uid_t = getuid()) -> String? {
        guard uid == 0, config.provisioner.runAs != "root" else { return nil }
        let state = URL(fileURLWithPath: config.stateDirectory).standardizedFileURL.path
        let root = URL(fileURLWithPath: config.provisioner.root).standardizedFileURL.path
        guard root.hasPrefix(state.hasSuffix("/") ? state : state + "/") else { return nil }
        // One made otherwise beforehand (systemd's StateDirectoryMode=0711) is fine.
        if let mode = (try? FileManager.default.attributesOfItem(atPath: state))?[.posixPermissions] as? Int,
            mode & 0o001 != 0
        {
            return nil
        }
        return "provisioner.root \(root) is inside stateDirectory \(state), which is made 0700: servers run as "
            + "\(config.provisioner.runAs ?? "postgres") could not reach their node directories; put root outside it"
    }

    /// The image's bin directory holds what the local provisioner runs for each of `engines`
    /// (for an image no database uses yet: the binaries of one engine or the other).
    static func imageCheck(_ image: FleetConfig.Image, engines: Set<DatabaseConfig.EngineKind>) -> FleetCheck {
        func missing(_ engine: DatabaseConfig.EngineKind) -> [String] {
            LocalProvisioner.requiredBinaries(engine).filter {
                !FileManager.default.isExecutableFile(atPath: "\(image.binDirectory)/\($0)")
            }
        }
        guard !image.binDirectory.isEmpty else {
            return FleetCheck(
                .image, image.name, passed: false, "no binDirectory: the local provisioner runs servers from one")
        }
        let wanted: [DatabaseConfig.EngineKind] =
            engines.isEmpty ? [.postgres, .redis] : engines.sorted { $0.rawValue < $1.rawValue }
        let found = wanted.filter { missing($0).isEmpty }
        if engines.isEmpty, let engine = found.first {
            return FleetCheck(
                .image, image.name, passed: true,
                "\(image.binDirectory) holds \(LocalProvisioner.requiredBinaries(engine).joined(separator: ", ")) (used by no database yet)"
            )
        }
        let lacking = wanted.flatMap(missing)
        guard lacking.isEmpty, !found.isEmpty else {
            return FleetCheck(
                .image, image.name, passed: false,
                "bin directory \(image.binDirectory) lacks \(lacking.joined(separator: ", "))")
        }
        return FleetCheck(
            .image, image.name, passed: true,
            "\(image.binDirectory) holds \(wanted.flatMap { LocalProvisioner.requiredBinaries($0) }.joined(separator: ", "))"
        )
    }
}
