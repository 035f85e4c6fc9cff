import Foundation
import PostgresClient

/// Where the state store is (`store:`): the SQLite file in the state directory (the default),
/// or a Postgres database that several controllers share, with leases.
public struct StoreConfig: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable { case sqlite, postgres }
    public var kind: Kind = .sqlite
    /// Postgres: the conninfo, without a password.
    public var conninfo: ConnInfo?
    public var password: Secret?
    /// How long a lease lasts unless renewed; its holder renews it every third of it.
    public var leaseTTL: Duration = .seconds(15)

    public init() {}

    /// How often a holder renews its lease.
    public var renewEvery: Duration { leaseTTL / 3 }
}

extension RawConfig {
    /// `store: {kind: postgres, conninfo: "host=… dbname=…", password: {env: NAME}, leaseTtl: 15s}`
    /// (`passwordEnv: NAME` is short for `password: {env: NAME}`).
    struct RawStore: Decodable {
        var kind: String?
        var conninfo: String?
        var password: Secret?
        var passwordEnv: String?
        var leaseTtl: String?
    }

    func resolveStore(source: String, base: String) throws(ConfigError) -> StoreConfig {
        var config = StoreConfig()
        guard let raw = store else { return config }
        let at = "config \(source), store"
        let known = StoreConfig.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        guard let kind = StoreConfig.Kind(rawValue: raw.kind ?? "sqlite") else {
            throw ConfigError("\(at): unknown kind \"\(raw.kind ?? "")\" (known: \(known))")
        }
        config.kind = kind
        if let text = raw.leaseTtl {
            let ttl = try ConfigValue.duration(text, at: "\(at).leaseTtl")
            guard ttl >= .seconds(3), ttl <= .seconds(3600) else {
                throw ConfigError("\(at).leaseTtl: between 3s and 1h")
            }
            config.leaseTTL = ttl
        }
        switch kind {
        case .sqlite:
            guard raw.conninfo == nil, raw.password == nil, raw.passwordEnv == nil else {
                throw ConfigError(
                    "\(at): conninfo and password are for kind: postgres (the SQLite store is a file in stateDirectory)"
                )
            }
        case .postgres:
            guard let text = raw.conninfo, !text.isEmpty else {
                throw ConfigError("\(at): kind postgres needs conninfo (\"host=… port=… dbname=… user=…\")")
            }
            let conninfo: ConnInfo
            do {
                conninfo = try ConnInfo(text)
            } catch {
                // Not the text: it may hold a password.
                throw ConfigError("\(at): conninfo is not a libpq conninfo (key=value pairs or a postgresql:// URL)")
            }
            guard conninfo["password"] == nil else {
                throw ConfigError(
                    "\(at): the conninfo holds a password; give it as password: {env: NAME} or {file: PATH}")
            }
            if raw.password != nil, raw.passwordEnv != nil {
                throw ConfigError("\(at): give the password once, as password: {env: NAME} or passwordEnv: NAME")
            }
            config.conninfo = conninfo
            config.password = raw.password?.resolved(against: base) ?? raw.passwordEnv.map { .environment($0) }
        }
        return config
    }
}
