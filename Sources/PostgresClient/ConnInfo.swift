import CLibPQ
import Redaction

/// libpq connection parameters, parsed by libpq itself.
///
/// `description` is the redacted form (safe to print); `connectionString` includes the password
/// and is meant only for handing to child processes through their environment.
public struct ConnInfo: Sendable, Equatable, CustomStringConvertible {
    public struct Parameter: Sendable, Equatable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    /// The parameters that were given, in libpq's order after parsing or the caller's order.
    public private(set) var parameters: [Parameter]

    /// Parses `key=value` pairs or a `postgres://` / `postgresql://` URL with `PQconninfoParse`.
    public init(_ string: String) throws(PostgresError) {
        guard string.utf8.count <= Self.maximumLength else {
            throw PostgresError(
                code: .badConninfo,
                message:
                    "connection info is \(string.utf8.count) bytes long; more than \(Self.maximumLength) is not a conninfo"
            )
        }
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(string, &errorMessage) else {
            defer { PQfreemem(errorMessage) }
            let text = errorMessage.flatMap {
                Self.masking(passwordsIn: string, from: PostgresError.oneLine(String(cString: $0)))
            }
            throw PostgresError(
                code: .badConninfo,
                message: text.flatMap { $0.isEmpty ? nil : $0 } ?? "could not parse connection info"
            )
        }
        defer { PQconninfoFree(options) }
        var parameters: [Parameter] = []
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val {
                parameters.append(Parameter(key: String(cString: keyword), value: String(cString: value)))
            }
            option += 1
        }
        self.parameters = parameters
    }

    public init(parameters: [Parameter]) {
        self.parameters = parameters
    }

    /// The value of `key`; setting `nil` removes it, setting a value replaces it in place or
    /// appends it.
    public subscript(key: String) -> String? {
        get { parameters.first { $0.key == key }?.value }
        set {
            guard let newValue else {
                parameters.removeAll { $0.key == key }
                return
            }
            if let index = parameters.firstIndex(where: { $0.key == key }) {
                parameters[index].value = newValue
                parameters = parameters.enumerated()
                    .filter { $0.offset <= index || $0.element.key != key }
                    .map(\.element)
            } else {
                parameters.append(Parameter(key: key, value: newValue))
            }
        }
    }

    public func with(_ key: String, _ value: String?) -> ConnInfo {
        var copy = self
        copy[key] = value
        return copy
    }

    public var host: String? { self["host"] }
    public var port: Int? { self["port"].flatMap { firstListItem($0) }.flatMap { Int($0) } }
    public var user: String? { self["user"] }
    public var database: String? { self["dbname"] }

    /// `host:port` of the (first) server, with libpq's defaults `localhost` and 5432.
    public var endpoint: String {
        let host = (self["host"] ?? self["hostaddr"]).flatMap { firstListItem($0) } ?? "localhost"
        let shown = host.contains(":") && !host.hasPrefix("/") ? "[\(host)]" : host
        return "\(shown):\(port ?? 5432)"
    }

    /// The keys whose values are secrets: the password, and the passphrase of the client key.
    public static let secretKeys: Set<String> = ["password", "sslpassword"]

    /// The redacted `key=value` form: the password's (and sslpassword's) value is `********`.
    public var description: String {
        render { Self.secretKeys.contains($0.key) ? Redaction.mask : $0.value }
    }

    /// The full `key=value` form, password included, quoted for libpq. Never log it.
    public var connectionString: String {
        render { $0.value }
    }

    private func render(_ value: (Parameter) -> String) -> String {
        parameters.map { "\($0.key)=\(Self.quoted(value($0)))" }.joined(separator: " ")
    }

    /// libpq's conninfo quoting: bare when safe, else single quotes with `\'` and `\\`.
    static func quoted(_ value: String) -> String {
        let needsQuotes =
            value.isEmpty || value.contains { $0.isWhitespace || $0 == "'" || $0 == "\\" || $0 == "=" }
        guard needsQuotes else { return value }
        var text = "'"
        for character in value {
            if character == "'" || character == "\\" {
                text.append("\\")
            }
            text.append(character)
        }
        return text + "'"
    }

    /// The longest conninfo parsed. Real ones are a few hundred bytes; a longer string is
    /// refused without being quoted back.
    public static let maximumLength = 65_536

    /// libpq quotes parts of a string it rejects, even a whole URL with its password: every
    /// password `input` could hold is masked in `message` (see
    /// ``Redaction/masking(passwordsIn:from:)``).
    static func masking(passwordsIn input: String, from message: String) -> String? {
        Redaction.masking(passwordsIn: input, from: message)
    }

    private func firstListItem(_ list: String) -> String? {
        let first = list.split(separator: ",", omittingEmptySubsequences: false).first.map(String.init)
        return first?.isEmpty == false ? first : nil
    }
}
