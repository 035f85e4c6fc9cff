import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Filesystem helpers for directories that a server running as another user must own.
public enum LocalFiles {
    /// Creates `path` (and parents) and hands it to `user` when we are root.
    public static func makeDirectory(_ path: String, owner user: String?, mode: mode_t = 0o700) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, mode)
        if let (uid, gid) = ids(of: user) { chown(path, uid, gid) }
    }

    /// Hands `path` and everything under it to `user` when we are root; `privately`: directories
    /// 0700 and files 0600, else their modes kept.
    public static func chownTree(_ path: String, to user: String?, privately: Bool = true) {
        let ids = ids(of: user)
        func hand(_ item: String, directory: Bool) {
            if privately { chmod(item, directory ? 0o700 : 0o600) }
            if let (uid, gid) = ids { chown(item, uid, gid) }
        }
        hand(path, directory: true)
        guard let items = FileManager.default.enumerator(atPath: path) else { return }
        for case let relative as String in items {
            var isDirectory: ObjCBool = false
            let item = "\(path)/\(relative)"
            _ = FileManager.default.fileExists(atPath: item, isDirectory: &isDirectory)
            hand(item, directory: isDirectory.boolValue)
        }
    }

    /// The user and group IDs files made for `user` get: nil unless we are root (only root
    /// can give files away) and the user exists.
    public static func ids(of user: String?) -> (uid_t, gid_t)? {
        guard let user, getuid() == 0, let pw = getpwnam(user) else { return nil }
        return (pw.pointee.pw_uid, pw.pointee.pw_gid)
    }
}
