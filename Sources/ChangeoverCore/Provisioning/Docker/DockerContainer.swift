// swift-format-ignore-file: AlwaysUseLowerCamelCase
// The Docker Engine API's JSON keys are capitalised; the decoding types keep its spelling.

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
            case type = "Type"
            case name = "Name"
            case source = "Source"
            case destination = "Destination"
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case name = "Name"
        case image = "Image"
        case config = "Config"
        case state = "State"
        case hostConfig = "HostConfig"
        case
            mounts = "Mounts"
    }
    enum ConfigKeys: String, CodingKey {
        case image = "Image"
        case labels = "Labels"
        case command = "Cmd"
    }
    enum StateKeys: String, CodingKey {
        case running = "Running"
        case pid = "Pid"
        case status = "Status"
        case exitCode = "ExitCode"
    }
    enum HostConfigKeys: String, CodingKey {
        case networkMode = "NetworkMode"
        case restartPolicy = "RestartPolicy"
    }
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
        restartPolicy =
            ((try? hostConfig?.decodeIfPresent(RestartPolicy.self, forKey: .restartPolicy)) ?? nil)?.Name ?? ""
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
