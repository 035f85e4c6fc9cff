/// What `GET /volumes/{name}` says about a volume.
public struct DockerVolume: Sendable, Decodable {
    public var name: String
    /// Where the volume's data is on the engine's host.
    public var mountpoint: String
    public var labels: [String: String]

    enum CodingKeys: String, CodingKey {
        case name = "Name"
        case mountpoint = "Mountpoint"
        case labels = "Labels"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        mountpoint = try container.decodeIfPresent(String.self, forKey: .mountpoint) ?? ""
        labels = (try? container.decodeIfPresent([String: String].self, forKey: .labels)) ?? [:]
    }
}
