import ArgumentParser
import ChangeoverCore
import Foundation

@main
struct Changeover: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "changeover",
        abstract: "Patch a database by changing it over to a caught-up follower on a new image.",
        discussion: """
            Exit codes: 0 success; 2 bad input (config, arguments, secrets, an impossible resume or abort); \
            3 preflight failed, nothing was touched; 4 aborted and rolled back, the old primary serves; \
            5 failed after the point of no return, an operator must look; 6 the audit log does not verify; \
            7 another controller is working on the database; 8 stopped by a signal before the switchover, \
            resumable (`resume` continues).
            """,
        version: BuildStamp.versionLine,
        subcommands: [CheckCommand.self, PlanCommand.self, RunCommand.self, ScheduleCommand.self, PrepareCommand.self, SwitchCommand.self,
                      StatusCommand.self, ResumeCommand.self, AbortCommand.self, RetireCommand.self,
                      WindowsCommand.self, AuditCommand.self, StepsCommand.self, DaemonCommand.self,
                      CampaignCommand.self, InventoryCommand.self, DemoCommand.self])

    /// As swift-argument-parser's own, except that a usage error (an unknown option, a missing
    /// argument, a failed validation) exits 2 like every other kind of bad input, not 64.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(Failure.Kind.badInput.rawValue)
            }
            exit(withError: error)
        }
    }
}

/// What every verb that reads the fleet takes.
struct FleetOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: ArgumentHelp(
        "The fleet's YAML config file (default: $CHANGEOVER_CONFIG, else \(FleetOptions.defaultPath)).", valueName: "config"))
    var configFile: String?

    static let defaultPath = "/etc/changeover/fleet.yaml"

    /// The config file: `--config`, else `$CHANGEOVER_CONFIG`, else `/etc/changeover/fleet.yaml`.
    var config: String { Self.resolve(configFile).path }

    /// The path to read and where it came from, for errors that name the path tried.
    static func resolve(_ given: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> (path: String, origin: String?) {
        if let given { return (given, nil) }
        if let path = environment["CHANGEOVER_CONFIG"], !path.isEmpty { return (path, "from CHANGEOVER_CONFIG") }
        return (defaultPath, "the default; give --config FILE or set CHANGEOVER_CONFIG")
    }

    /// The config file with the state store's inventory merged. A stored database that does
    /// not resolve is left out with a warning on stderr; a store that cannot be read fails as
    /// the store does (not as bad input).
    func load() throws -> FleetConfig {
        var loaded = try loadFile()
        do {
            try loaded.mergeInventory()
        } catch let error as ConfigError {
            throw Failure(.badInput, error.description)
        }
        for invalid in loaded.inventory.invalid {
            Output.warning("inventory database \(invalid.name) left out: \(invalid.reason)")
        }
        return loaded
    }

    /// The config file alone, without the inventory (`db` reads and changes the inventory itself).
    func loadFile() throws -> FleetConfig { try Self.loadFile(configFile) }

    /// The file `given` names, or the default one.
    static func loadFile(_ given: String?) throws -> FleetConfig {
        let (path, origin) = resolve(given)
        if let origin, !FileManager.default.isReadableFile(atPath: path) {
            throw Failure(.badInput, "cannot read config file \(path) (\(origin))")
        }
        do {
            return try FleetConfig.load(path: path, mergingInventory: false)
        } catch {
            throw Failure(.badInput, error.description)
        }
    }
}

/// The terminal's yes before a destructive verb; `--yes` stands for it.
enum Confirmation {
    /// Returns when `yes` or the operator answers y; otherwise a one-line bad-input failure
    /// (`verb needs --yes` when there is no terminal to ask on).
    static func require(_ yes: Bool, verb: String, question: String) throws {
        if yes { return }
        guard isatty(STDIN_FILENO) == 1 else { throw Failure(.badInput, "\(verb) needs --yes when not run from a terminal") }
        FileHandle.standardOutput.write(Data("\(question) [y/N] ".utf8))
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else { throw Failure(.badInput, "not aborted") }
    }
}

/// A one-line error and the exit code that goes with it.
struct Failure: Error {
    enum Kind: Int32 {
        case badInput = 2, preflight = 3, aborted = 4, failed = 5, audit = 6, busy = 7, stopped = 8
    }
    var kind: Kind
    var message: String
    init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning errors into one line on stderr and a meaningful exit code.
    func reporting(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as Failure {
            Output.error(failure.message)
            throw ExitCode(failure.kind.rawValue)
        } catch let error as ExitCode {
            throw error
        } catch {
            let kind: Failure.Kind = switch error {
            case is ConfigError, is ChangeoverRefused: .badInput
            case is DatabaseBusy, is DatabaseLeased: .busy
            default: .failed
            }
            // A config error may be several problems, one line each; anything else is one line.
            Output.error(error is ConfigError ? String(describing: error)
                : String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " "))
            throw ExitCode(kind.rawValue)
        }
    }
}

enum Output {
    static let isTerminal = isatty(STDOUT_FILENO) == 1

    /// Each line of `message` (a config error lists its problems one a line) as an error line.
    static func error(_ message: String) {
        let lines = message.split(whereSeparator: \.isNewline).map { "changeover: error: \($0)\n" }
        FileHandle.standardError.write(Data((lines.isEmpty ? "changeover: error: \n" : lines.joined()).utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("changeover: warning: \(message)\n".utf8))
    }

    static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func ms(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.1f s", value / 1000) : String(format: "%.1f ms", value)
    }
}

extension Output {
    /// Rows under a header, each column as wide as its widest cell, two spaces apart; the last
    /// column is not padded.
    static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for cells in all {
            let padded = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            line(padded.joined(separator: "  "))
        }
    }

    /// `host:port` of a primary's address, or the address as it is when it does not parse.
    static func hostPort(_ address: String, engine: DatabaseConfig.EngineKind) -> String {
        guard let primary = try? DatabasePrimary.parse(address, engine: engine) else { return address }
        return primary.host.contains(":") ? "[\(primary.host)]:\(primary.port)" : "\(primary.host):\(primary.port)"
    }
}
