/// What `changeover --version` prints: the version, and the git commit the binary was built from.
///
/// SwiftPM has no way to hand a build a value, so `make build` and `make install` write
/// `BuildStamp+Commit.swift` (ignored by git), which gives `commit`, and remove it again when
/// the build ends. A plain `swift build` compiles without it and says "unknown commit" rather
/// than name a commit it was not built from.
enum BuildStamp: BuildStamping {
    static let version = "0.1.0"

    /// `changeover 0.1.0 (commit 5f3c…)`.
    static var versionLine: String {
        "changeover \(version) (\(commit.map { "commit \($0)" } ?? "unknown commit: built without make"))"
    }
}

/// The commit, when the stamp file gives one.
protocol BuildStamping {
    static var commit: String? { get }
}

extension BuildStamping {
    static var commit: String? { nil }
}
