/// What `GET /images/{name}/json` says about an image, the parts changeover records.
public struct DockerImage: Sendable, Decodable, Equatable {
    /// `sha256:…` of the image config: content-addressed, the image's identity (a container's
    /// `Image` is the same value). Locally built images have no repo digest; this is the digest.
    public var id: String
    public var repoTags: [String]
    public var labels: [String: String]
    /// The image's environment (`PG_MAJOR=15`); an image's own, never a container's secrets.
    public var environment: [String]

    enum CodingKeys: String, CodingKey {
        case id = "Id", repoTags = "RepoTags", config = "Config"
    }
    enum ConfigKeys: String, CodingKey {
        case labels = "Labels", environment = "Env"
    }

    public init(id: String, repoTags: [String], labels: [String: String], environment: [String]) {
        self.id = id
        self.repoTags = repoTags
        self.labels = labels
        self.environment = environment
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        repoTags = try container.decodeIfPresent([String].self, forKey: .repoTags) ?? []
        let config = try? container.nestedContainer(keyedBy: ConfigKeys.self, forKey: .config)
        labels = (try? config?.decodeIfPresent([String: String].self, forKey: .labels)) ?? [:]
        environment = (try? config?.decodeIfPresent([String].self, forKey: .environment)) ?? []
    }

    /// The value of `NAME=` in the image's environment.
    public func environment(_ name: String) -> String? {
        environment.first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }

    /// The Debian libc6 version the image says it carries (`org.changeover.libc6`).
    public var libc6: String? { labels["org.changeover.libc6"] }
}

/// What `GET /containers/{id}/json` says about a container, the parts changeover reads.
/// The container's environment is deliberately not decoded: it may hold passwords.
public struct DockerContainer: Sendable, Decodable {
    public var id: String
    /// The name without the leading "/".
    public var name: String
    /// The image Id (`sha256:…`) the container runs.
    public var image: String
    /// The image as the container was created from it (a tag, usually).
    public var imageReference: String
    public var labels: [String: String]
    public var command: [String]
    public var running: Bool
    /// The main process's PID in the engine host's PID namespace (0 when not running).
    public var pid: Int32
    public var status: String
    public var exitCode: Int
    public var networkMode: String
    /// "no", "always", "unless-stopped", "on-failure" ("" when unset: no).
    public var restartPolicy: String
    public var mounts: [Mount]

    public struct Mount: Sendable, Decodable {
        /// "volume" or "bind".
        public var type: String
        /// The volume's name (volumes only).
        public var name: String?
        /// Where the data is on the engine's host.
        public var source: String
        /// Where the data is in the container.
        public var destination: String

        enum CodingKeys: String, CodingKey {
            case type = "Type", name = "Name", source = "Source", destination = "Destination"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id", name = "Name", image = "Image", config = "Config", state = "State", hostConfig = "HostConfig",
             mounts = "Mounts"
    }
    enum ConfigKeys: String, CodingKey { case image = "Image", labels = "Labels", command = "Cmd" }
    enum StateKeys: String, CodingKey { case running = "Running", pid = "Pid", status = "Status", exitCode = "ExitCode" }
    enum HostConfigKeys: String, CodingKey { case networkMode = "NetworkMode", restartPolicy = "RestartPolicy" }
    struct RestartPolicy: Decodable { var Name: String? }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        let rawName = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        name = rawName.hasPrefix("/") ? String(rawName.dropFirst()) : rawName
        image = try container.decodeIfPresent(String.self, forKey: .image) ?? ""
        let config = try container.nestedContainer(keyedBy: ConfigKeys.self, forKey: .config)
        imageReference = try config.decodeIfPresent(String.self, forKey: .image) ?? ""
        labels = try config.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        command = try config.decodeIfPresent([String].self, forKey: .command) ?? []
        let state = try container.nestedContainer(keyedBy: StateKeys.self, forKey: .state)
        running = try state.decodeIfPresent(Bool.self, forKey: .running) ?? false
        pid = try state.decodeIfPresent(Int32.self, forKey: .pid) ?? 0
        status = try state.decodeIfPresent(String.self, forKey: .status) ?? "unknown"
        exitCode = try state.decodeIfPresent(Int.self, forKey: .exitCode) ?? 0
        let hostConfig = try? container.nestedContainer(keyedBy: HostConfigKeys.self, forKey: .hostConfig)
        networkMode = (try? hostConfig?.decodeIfPresent(String.self, forKey: .networkMode)) ?? ""
        restartPolicy = ((try? hostConfig?.decodeIfPresent(RestartPolicy.self, forKey: .restartPolicy)) ?? nil)?.Name ?? ""
        mounts = try container.decodeIfPresent([Mount].self, forKey: .mounts) ?? []
    }

    /// The mount at `destination` in the container.
    public func mount(at destination: String) -> Mount? {
        let trimmed = destination.hasSuffix("/") ? String(destination.dropLast()) : destination
        return mounts.first { $0.destination == trimmed }
    }

    /// The value after `option` on the command line (`-p 5432` → "5432").
    public func argument(after option: String) -> String? {
        guard let index = command.firstIndex(of: option), command.indices.contains(index + 1) else { return nil }
        return command[index + 1]
    }
}

/// What `GET /volumes/{name}` says about a volume.
public struct DockerVolume: Sendable, Decodable {
    public var name: String
    /// Where the volume's data is on the engine's host.
    public var mountpoint: String
    public var labels: [String: String]

    enum CodingKeys: String, CodingKey { case name = "Name", mountpoint = "Mountpoint", labels = "Labels" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        mountpoint = try container.decodeIfPresent(String.self, forKey: .mountpoint) ?? ""
        labels = (try? container.decodeIfPresent([String: String].self, forKey: .labels)) ?? [:]
    }
}

/// The body of `POST /containers/create`. `environment` may carry passwords: the body is never
/// logged or put in an error.
public struct DockerContainerSpec: Sendable, Encodable {
    public var image: String
    public var command: [String]
    /// Replaces the image's entrypoint when set.
    public var entrypoint: [String]?
    public var environment: [String]
    public var labels: [String: String]
    public var user: String?
    public var stopSignal: String?
    /// "host": the container shares the host's network (see docker/README.md).
    public var networkMode: String
    /// Named volumes: volume name → path in the container.
    public var volumes: [(name: String, target: String)]

    public init(image: String, command: [String], entrypoint: [String]? = nil, environment: [String] = [],
                labels: [String: String] = [:], user: String? = nil, stopSignal: String? = nil,
                networkMode: String = "host", volumes: [(name: String, target: String)] = []) {
        self.image = image
        self.command = command
        self.entrypoint = entrypoint
        self.environment = environment
        self.labels = labels
        self.user = user
        self.stopSignal = stopSignal
        self.networkMode = networkMode
        self.volumes = volumes
    }

    enum CodingKeys: String, CodingKey {
        case image = "Image", command = "Cmd", entrypoint = "Entrypoint", environment = "Env", labels = "Labels",
             user = "User", stopSignal = "StopSignal", hostConfig = "HostConfig"
    }
    enum HostConfigKeys: String, CodingKey { case networkMode = "NetworkMode", mounts = "Mounts", restartPolicy = "RestartPolicy" }
    struct MountBody: Encodable {
        var `Type` = "volume"
        var Source: String
        var Target: String
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(image, forKey: .image)
        try container.encode(command, forKey: .command)
        try container.encodeIfPresent(entrypoint, forKey: .entrypoint)
        try container.encode(environment, forKey: .environment)
        try container.encode(labels, forKey: .labels)
        try container.encodeIfPresent(user, forKey: .user)
        try container.encodeIfPresent(stopSignal, forKey: .stopSignal)
        var host = container.nestedContainer(keyedBy: HostConfigKeys.self, forKey: .hostConfig)
        try host.encode(networkMode, forKey: .networkMode)
        try host.encode(volumes.map { MountBody(Source: $0.name, Target: $0.target) }, forKey: .mounts)
        try host.encode(["Name": "no"], forKey: .restartPolicy)
    }
}
