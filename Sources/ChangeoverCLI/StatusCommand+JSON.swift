import ChangeoverCore

extension StatusCommand {
    /// The version of the `--json` output's shape; raised when a field changes meaning or goes.
    static let schemaVersion = 1

    /// `--json` of the list and the pending view: the entries under a schema version.
    struct Listing<Entry: Encodable>: Encodable {
        var schemaVersion = StatusCommand.schemaVersion
        var changeovers: [Entry]
    }

    /// `--json` of one changeover: its report's fields and the schema version beside them.
    struct Single: Encodable {
        var report: Report
        enum Keys: String, CodingKey { case schemaVersion }
        func encode(to encoder: any Encoder) throws {
            try report.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(StatusCommand.schemaVersion, forKey: .schemaVersion)
        }
    }
}
