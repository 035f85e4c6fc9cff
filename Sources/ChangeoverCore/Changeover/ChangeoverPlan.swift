/// What `plan` found: the checks, the steps, what would be created. Touches nothing.
public struct ChangeoverPlan: Sendable, Codable {
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var primary: Endpoint
    public var checks: [PreflightCheck]
    public var resources: [String]
    public var steps: [String]
    public var ready: Bool { checks.allSatisfy(\.passed) }
}
