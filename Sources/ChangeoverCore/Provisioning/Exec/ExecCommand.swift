import Foundation

/// The exec provisioner's command, run once per operation as `COMMAND… OPERATION` with one JSON
/// object on stdin and one JSON object expected on stdout (docs/exec-provisioner.md).
///
/// Exit status 0 is success, 3 says the command does not implement the operation (accepted
/// for the optional ones), anything else is a failure reported in one line with the operation's
/// name and the last line the command wrote to stderr. The command runs in a process group of
/// its own; at its deadline the whole group is killed (servers it started in a session of their
/// own survive). Secrets sent to it are masked in whatever comes back.
public struct ExecCommand: Sendable {
    public var argv: [String]
    public var timeout: Duration

    /// The request format's version, sent as `"version"`.
    public static let protocolVersion = 1
    /// The exit status that means "this operation is not implemented".
    public static let notImplemented: Int32 = 3

    public init(argv: [String], timeout: Duration) {
        self.argv = argv
        self.timeout = timeout
    }

    /// The program's file name, for messages.
    public var name: String { URL(fileURLWithPath: argv.first ?? "?").lastPathComponent }

    /// Runs `operation` with `request` (plus `"version"` and `"operation"`). Returns the object the
    /// command printed, or nil when `optional` and the command does not implement it. `secrets`
    /// are masked in errors and in the reply's strings.
    public func call(
        _ operation: String, _ request: [String: JSONValue], timeout: Duration? = nil,
        secrets: [String] = [], optional: Bool = false
    ) async throws -> [String: JSONValue]? {
        var body = request
        body["version"] = .number(Double(Self.protocolVersion))
        body["operation"] = .string(operation)
        let limit = timeout ?? self.timeout
        body["timeout"] = .number(limit.seconds.rounded(.down))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let input = try encoder.encode(JSONValue.object(body)) + Data("\n".utf8)
        let outcome: Subprocess.Outcome
        do {
            outcome = try await Subprocess.run(argv + [operation], stdin: input, processGroup: true, timeout: limit)
        } catch {
            if error.description.contains("did not finish") {
                throw ProvisionError(
                    "exec provisioner: \(operation) did not finish within \(limit.seconds) s; \(name) and its process group were killed"
                )
            }
            throw ProvisionError("exec provisioner: \(operation) could not run \(argv[0]): \(error.description)")
        }
        if outcome.status == Self.notImplemented, optional { return nil }
        guard outcome.succeeded else {
            let last = Self.mask(outcome.lastErrorLine, secrets)
            let what =
                outcome.status == Self.notImplemented
                ? "is not implemented by \(name) (exit status 3)"
                : outcome.status > 128
                    ? "failed (\(name) killed by signal \(outcome.status - 128))"
                    : "failed (\(name) exit status \(outcome.status))"
            throw ProvisionError(
                "exec provisioner: \(operation) \(what)" + (last.isEmpty ? "" : ": \(Self.clip(last))"))
        }
        let text = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The reply is the last line that holds an object (a command may log before it).
        let line = text.split(whereSeparator: \.isNewline).last {
            $0.trimmingCharacters(in: .whitespaces).hasPrefix("{")
        }
        guard let line, let reply = try? JSONDecoder().decode(JSONValue.self, from: Data(line.utf8)),
            case .object(let object) = reply
        else {
            throw ProvisionError(
                "exec provisioner: \(operation) printed no JSON object on stdout (\(name) exited 0 with \(text.isEmpty ? "no output" : "\(text.utf8.count) bytes of something else"))"
            )
        }
        return Self.mask(object, secrets)
    }

    /// `call` for an operation every command must implement.
    public func require(
        _ operation: String, _ request: [String: JSONValue], timeout: Duration? = nil,
        secrets: [String] = []
    ) async throws -> [String: JSONValue] {
        try await call(operation, request, timeout: timeout, secrets: secrets) ?? [:]
    }

    static func mask(_ text: String, _ secrets: [String]) -> String {
        secrets.filter { !$0.isEmpty }.sorted { $0.count > $1.count }.reduce(text) {
            $0.replacingOccurrences(of: $1, with: "[redacted]")
        }
    }

    static func mask(_ object: [String: JSONValue], _ secrets: [String]) -> [String: JSONValue] {
        guard secrets.contains(where: { !$0.isEmpty }) else { return object }
        func masked(_ value: JSONValue) -> JSONValue {
            switch value {
            case .string(let text): .string(mask(text, secrets))
            case .array(let items): .array(items.map(masked))
            case .object(let fields): .object(fields.mapValues(masked))
            default: value
            }
        }
        return object.mapValues(masked)
    }

    static func clip(_ line: String) -> String {
        line.count <= 300 ? line : String(line.prefix(300)) + "…"
    }
}
