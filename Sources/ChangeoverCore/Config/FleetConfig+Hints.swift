import Foundation

extension FleetConfig {
    /// A command an operator can copy and run as it is, in backquotes: `changeover WORDS
    /// --config PATH`, naming the file this config was loaded from (left out for a config
    /// parsed from text). A destructive verb's hint carries its `--yes` in `words`.
    public func command(_ words: String...) -> String {
        Self.command(words, config: path)
    }

    /// `command`'s hint for a config file known by its path only.
    public static func command(_ words: [String], config: String?) -> String {
        "`" + commandLine(words, config: config) + "`"
    }

    /// The words of `command`, unquoted by backquotes; each shell-quoted where it needs it.
    public static func commandLine(_ words: [String], config: String?) -> String {
        (["changeover"] + words + (config.map { ["--config", $0] } ?? [])).map(shellQuoted).joined(separator: " ")
    }

    /// `word` as one shell word: as it is when it holds nothing the shell would read, else in
    /// single quotes.
    public static func shellQuoted(_ word: String) -> String {
        let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=,@+%")
        if !word.isEmpty, word.allSatisfy({ plain.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

extension FleetConfig {
    /// The engine an image is for, where it can be told: the engine of the databases the config
    /// gives that image, else what its bin directory holds (`postgres` or `redis-server`, not
    /// both); nil when neither tells.
    public func engine(ofImage name: String) -> DatabaseConfig.EngineKind? {
        let engines = Set(databases.values.filter { $0.image == name }.map(\.engine))
        if engines.count == 1 { return engines.first }
        guard engines.isEmpty, let image = images[name], !image.binDirectory.isEmpty else { return nil }
        let postgres = FileManager.default.isExecutableFile(atPath: "\(image.binDirectory)/postgres")
        let redis = FileManager.default.isExecutableFile(atPath: "\(image.binDirectory)/redis-server")
        return postgres == redis ? nil : postgres ? .postgres : .redis
    }
}
