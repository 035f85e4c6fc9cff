import Foundation

/// Where a secret comes from: an environment variable or a file only its owner can read.
/// The value is read when needed and never printed; `description` names only its source.
public enum Secret: Sendable, Equatable, Decodable, CustomStringConvertible {
    case environment(String)
    case file(String)

    private enum Keys: String, CodingKey, CaseIterable { case env, file }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let name = try container.decodeIfPresent(String.self, forKey: .env)
        let path = try container.decodeIfPresent(String.self, forKey: .file)
        if name != nil, path != nil {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a secret is {env: NAME} or {file: PATH}, not both"))
        } else if let name {
            self = .environment(name)
        } else if let path {
            self = .file(path)
        } else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a secret is {env: NAME} or {file: PATH}"))
        }
    }

    public var description: String {
        switch self {
        case .environment(let name): "environment variable \(name)"
        case .file(let path): "file \(path)"
        }
    }

    /// The secret with a relative file path made absolute against `base`, the config file's
    /// directory (not the working directory, which is wherever the controller was started).
    func resolved(against base: String) -> Secret {
        guard case .file(let path) = self else { return self }
        return .file(RawConfig.absolute(path, base: base))
    }

    /// The secret's value. A file must not be readable by group or others (mode 0600 or stricter).
    public func value(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> String
    {
        switch self {
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                throw ConfigError("the secret in environment variable \(name) is not set")
            }
            return value
        case .file(let path):
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let mode = attributes[.posixPermissions] as? Int
            else { throw ConfigError("cannot read the secret file \(path)") }
            guard mode & 0o077 == 0 else {
                let who = mode & 0o007 != 0 ? "others" : "its group"
                throw ConfigError(
                    "the secret file \(path) is readable by \(who) (mode \(String(mode & 0o777, radix: 8))); make it 0600"
                )
            }
            guard let data = FileManager.default.contents(atPath: path),
                let text = String(data: data, encoding: .utf8)
            else { throw ConfigError("cannot read the secret file \(path)") }
            return text.trimmingCharacters(in: .newlines)
        }
    }
}
