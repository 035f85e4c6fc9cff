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
        case id = "Id"
        case repoTags = "RepoTags"
        case config = "Config"
    }
    enum ConfigKeys: String, CodingKey {
        case labels = "Labels"
        case environment = "Env"
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
