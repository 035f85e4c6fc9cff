// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The Docker Engine API's JSON keys are capitalised; the decoding types keep its spelling.

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

    public init(
        image: String, command: [String], entrypoint: [String]? = nil, environment: [String] = [],
        labels: [String: String] = [:], user: String? = nil, stopSignal: String? = nil,
        networkMode: String = "host", volumes: [(name: String, target: String)] = []
    ) {
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
        case image = "Image"
        case command = "Cmd"
        case entrypoint = "Entrypoint"
        case environment = "Env"
        case labels = "Labels"
        case
            user = "User"
        case stopSignal = "StopSignal"
        case hostConfig = "HostConfig"
    }
    enum HostConfigKeys: String, CodingKey {
        case networkMode = "NetworkMode"
        case mounts = "Mounts"
        case restartPolicy = "RestartPolicy"
    }
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
