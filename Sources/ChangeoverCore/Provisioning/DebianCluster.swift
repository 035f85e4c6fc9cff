import Foundation

/// A `postgresql-common` cluster (Debian, Ubuntu): VERSION/NAME, its configuration in
/// `/etc/postgresql/VERSION/NAME` with `start.conf` saying whether it starts at boot (`auto`,
/// `manual`, `disabled`), listed by `pg_lsclusters`, started and stopped by `pg_ctlcluster`.
public struct DebianCluster: Sendable, Equatable, CustomStringConvertible {
    public var version: String
    public var name: String

    public static let configRoot = "/etc/postgresql"
    public static let dataRoot = "/var/lib/postgresql"

    public init(version: String, name: String) {
        self.version = version
        self.name = name
    }

    /// The cluster `VERSION/NAME` names (its `description`); nil for anything else.
    public init?(id: String) {
        let parts = id.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "/").map(String.init)
        guard parts.count == 2 else { return nil }
        self.init(version: parts[0], name: parts[1])
    }

    public var description: String { "\(version)/\(name)" }
    public var configDirectory: String { "\(Self.configRoot)/\(version)/\(name)" }
    /// Where `pg_createcluster` puts a cluster's data by default.
    public var defaultDataDirectory: String { "\(Self.dataRoot)/\(version)/\(name)" }
    public var startConf: String { "\(configDirectory)/start.conf" }

    /// The cluster whose configuration file `configFile` is (`/etc/postgresql/15/main/postgresql.conf`
    /// is 15/main), if that directory is a cluster's (it has a `start.conf`).
    public static func of(configFile: String) -> DebianCluster? {
        let parts = configFile.split(separator: "/").map(String.init)
        guard parts.count == 5, "/" + parts[0] + "/" + parts[1] == configRoot, parts[4] == "postgresql.conf" else {
            return nil
        }
        let cluster = DebianCluster(version: parts[2], name: parts[3])
        return FileManager.default.fileExists(atPath: cluster.startConf) ? cluster : nil
    }

    /// The name of the cluster a changeover makes of `base`'s follower: `base` without the stamp
    /// an earlier changeover gave it, then this changeover's (`main-20261207-101500-3fa2`).
    public static func followerName(base: String, changeover: String) -> String {
        let stamp = changeover.split(separator: "-").suffix(3).joined(separator: "-")
        var parts = base.split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 3, parts[parts.count - 3].count == 8, parts[parts.count - 2].count == 6,
            parts[parts.count - 3].allSatisfy(\.isNumber), parts[parts.count - 2].allSatisfy(\.isNumber)
        {
            parts.removeLast(3)
        }
        return parts.joined(separator: "-") + "-" + stamp
    }

    /// What `start.conf` says (`auto`, `manual`, `disabled`); nil when it cannot be read.
    public var startMode: String? {
        guard let text = try? String(contentsOfFile: startConf, encoding: .utf8) else { return nil }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .first { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// Writes `start.conf`: `auto` (started at boot), `manual` (only by hand) or `disabled`.
    public func setStartMode(_ mode: String) throws {
        let text = "# Set by changeover: auto, manual or disabled (see pg_createcluster(1)).\n\(mode)\n"
        do {
            try text.write(toFile: startConf, atomically: true, encoding: .utf8)
        } catch {
            throw ProvisionError("cannot write \(startConf): \(error.localizedDescription)")
        }
    }

    /// The lines that give a cluster whose configuration was copied from another its own
    /// locations back: appended to its postgresql.conf, where later lines win (after the
    /// copied file's `include_dir`, so over conf.d too).
    public func ownSettings(dataDirectory: String, port: Int) -> String {
        """

        # changeover: this cluster's own locations; everything above is its primary's configuration.
        data_directory = '\(dataDirectory)'
        hba_file = '\(configDirectory)/pg_hba.conf'
        ident_file = '\(configDirectory)/pg_ident.conf'
        external_pid_file = '/var/run/postgresql/\(version)-\(name).pid'
        port = \(port)
        cluster_name = '\(version)/\(name)'

        """
    }
}
