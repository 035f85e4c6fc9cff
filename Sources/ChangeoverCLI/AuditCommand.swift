import ArgumentParser
import ChangeoverCore
import Foundation

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Read and verify the hash-chained audit log.",
        subcommands: [Show.self, Verify.self])

    /// The audit log comes from the config or is named directly.
    struct Source: ParsableArguments {
        @Option(
            help:
                "The fleet's YAML config file, whose auditLog is read (default: $CHANGEOVER_CONFIG, else \(FleetOptions.defaultPath))."
        )
        var config: String?
        @Option(help: "An audit log file, instead of the config's.") var log: String?

        func validate() throws {
            if config != nil, log != nil { throw ValidationError("give either --config or --log, not both") }
        }

        func path() throws -> String {
            if let log { return log }
            return try FleetOptions.loadFile(config).auditLog
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit records.")
        @OptionGroup var source: Source
        @Option(help: "Only records of this changeover.") var changeover: String?
        @Flag(help: "Print the records as JSON Lines.") var json = false

        func run() async throws {
            try await reporting {
                let records = try AuditLog.read(path: try source.path()).filter {
                    changeover == nil || $0.changeover == changeover
                }
                for record in records {
                    if json {
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys]
                        Output.line(String(decoding: try encoder.encode(record), as: UTF8.self))
                        continue
                    }
                    let time = ISO8601DateFormatter().string(from: record.time)
                    var line =
                        "\(String(format: "%4d", record.seq))  \(time)  \(record.database)  \(record.step) \(record.outcome)"
                    if let message = record.message { line += ": \(message)" }
                    let facts = record.facts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    if !facts.isEmpty { line += "  [\(facts.joined(separator: " "))]" }
                    Output.line(line)
                }
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every record's hash and the chain; name the first bad record.")
        @OptionGroup var source: Source

        func run() async throws {
            try await reporting {
                let path = try source.path()
                let result = AuditLog.verify(path: path)
                if let problem = result.problem {
                    throw Failure(.audit, "audit log \(path) does not verify: \(problem.description)")
                }
                Output.line(
                    "audit log \(path): \(result.records) records, chain intact, last hash \(result.lastHash ?? "none")"
                )
            }
        }
    }
}
