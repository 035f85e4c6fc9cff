import ArgumentParser
import ChangeoverCLI
import ChangeoverCore
import ChangeoverLab
import Foundation

/// `changeover-demo` (`make demo`): the lab's throwaway servers, so not part of `changeover`.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changeover-demo",
        abstract:
            "Rehearse on throwaway local servers: a primary under a steady writer, a real changeover, its audit log.")

    static func main() async { await mainExitingTwoOnBadUsage() }

    enum Engines: String, ExpressibleByArgument, CaseIterable {
        case postgres, redis, both
    }

    @Option(help: "Which engines to rehearse: postgres, redis or both.") var engine: Engines = .both
    @Option(help: "How many changeovers to perform in a row, per engine.") var changeovers = 1
    @Flag(help: "Keep the servers and files instead of removing them.") var keep = false

    func validate() throws {
        guard (1...20).contains(changeovers) else { throw ValidationError("--changeovers must be 1…20") }
    }

    func run() async throws {
        try await reporting {
            let engines: [DatabaseConfig.EngineKind] =
                switch engine {
                case .postgres: [.postgres]
                case .redis: [.redis]
                case .both: [.postgres, .redis]
                }
            for kind in engines { try await rehearse(kind) }
        }
    }

    func rehearse(_ kind: DatabaseConfig.EngineKind) async throws {
        let what =
            kind == .postgres
            ? "PostgreSQL primary and a writer that records every acknowledged commit"
            : "Redis primary and a writer that records every acknowledged SADD"
        Output.line("── \(kind.rawValue) ──")
        Output.line("starting a throwaway \(what)…")
        let scenario = try await LabScenario.start(
            engine: kind, database: kind == .postgres ? "orders" : "sessions",
            changeovers: changeovers)
        var failure: (any Error)?
        do {
            try await rehearse(scenario)
        } catch {
            failure = error
        }
        if keep {
            Output.line("kept: \(scenario.lab.root) (servers still running)")
        } else {
            _ = await scenario.writer.stop()
            await scenario.lab.shutdown()
            Output.line("stopped every server the demo started and removed \(scenario.lab.root)")
        }
        Output.line()
        if let failure { throw failure }
    }

    func rehearse(_ scenario: LabScenario) async throws {
        Output.line("primary on 127.0.0.1:\(scenario.primary.port); config \(scenario.configPath)")
        Output.line()
        for index in 0..<changeovers {
            let summary = try await scenario.changeover(index) { Output.progress($0, json: false) }
            Output.summary(summary)
            Output.line()
            guard summary.outcome == .completed else {
                throw Failure(.failed, "the demo changeover did not complete: \(summary.failure ?? "unknown")")
            }
            try await scenario.writer.waitForAcknowledgements(50)
        }
        let report = await scenario.writer.stop()
        let missing = try await scenario.missing(report.acknowledged)
        Output.line(
            "writer: \(report.acknowledged.count) acknowledged writes, \(missing.count) lost, "
                + "\(report.errors) failed attempts while the primary moved")
        Output.line(
            "write pause seen by the writer (longest gap between acknowledged writes): \(Output.ms(report.longestGapMilliseconds))"
        )
        Output.line()
        let config = try scenario.config()
        Output.line("audit log \(config.auditLog):")
        for record in try AuditLog.read(path: config.auditLog) {
            let facts = record.facts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            Output.line(
                "  \(record.seq) \(record.step) \(record.outcome)\(record.message.map { ": \($0)" } ?? "")\(facts.isEmpty ? "" : "  [\(facts)]")"
            )
        }
        let verification = AuditLog.verify(path: config.auditLog)
        Output.line(
            verification.isIntact
                ? "audit verify: \(verification.records) records, chain intact"
                : "audit verify FAILED: \(verification.problem!.description)")
        guard missing.isEmpty, verification.isIntact else {
            throw Failure(
                .failed, "the demo lost \(missing.count) acknowledged writes or its audit log does not verify")
        }
    }
}
