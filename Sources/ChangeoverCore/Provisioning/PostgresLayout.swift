import Foundation

/// Where a Postgres server keeps its files, as the primary reports them (`current_setting`):
/// a hand-made server keeps its configuration in its data directory; Debian and Ubuntu keep it
/// in `/etc/postgresql/VERSION/NAME`, RHEL-style setups sometimes elsewhere again. A base
/// backup copies the data directory only, so a follower of a primary whose configuration lives
/// outside it is given a copy of that configuration.
public struct PostgresLayout: Sendable, Equatable {
    public var dataDirectory: String
    public var configFile: String
    public var hbaFile: String
    public var identFile: String
    /// Where it listens (`listen_addresses`).
    public var listenAddresses: String?

    public init(
        dataDirectory: String, configFile: String, hbaFile: String, identFile: String, listenAddresses: String? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.configFile = configFile
        self.hbaFile = hbaFile
        self.identFile = identFile
        self.listenAddresses = listenAddresses
    }

    /// Whether the configuration file lives outside the data directory (a base backup leaves it behind).
    public var configurationOutside: Bool { !configFile.hasPrefix(dataDirectory + "/") }

    /// The directory of the configuration file: what its relative `include` directives name.
    public var configDirectory: String { URL(fileURLWithPath: configFile).deletingLastPathComponent().path }

    /// The settings a follower whose configuration is a copy of the primary's, in
    /// `copy` (the configuration directory copied), runs with on its command line: the copied
    /// files, its own data directory, and no pid file of the primary's (`external_pid_file`
    /// names the primary's own, which the follower must not overwrite). A file outside the
    /// configuration directory is named where it is.
    public func followerSettings(copy: String, dataDirectory data: String) -> [String: String] {
        func moved(_ file: String) -> String {
            file.hasPrefix(configDirectory + "/") ? copy + file.dropFirst(configDirectory.count) : file
        }
        return [
            "config_file": moved(configFile), "hba_file": moved(hbaFile), "ident_file": moved(identFile),
            "data_directory": data, "external_pid_file": "",
        ]
    }
}
