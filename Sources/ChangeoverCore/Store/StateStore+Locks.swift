import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One controller per database.

/// Who holds a database's lock.
public struct LockHolder: Sendable, Codable, Equatable {
    public var changeover: String
    public var actor: String
    public var pid: Int32
    public var since: Date
}

/// An exclusive lock on one database: `flock` on a file in the state directory, so it dies with
/// the process that holds it (a crashed controller never blocks the next one) and its file
/// descriptor is never inherited by the servers a controller starts.
public final class DatabaseLock: Sendable {
    private let fd: Int32
    public let holder: LockHolder

    init(fd: Int32, holder: LockHolder) {
        self.fd = fd
        self.holder = holder
    }

    deinit { close(fd) }
}

/// Another controller is working on the database.
public struct DatabaseBusy: Error, CustomStringConvertible, Sendable {
    public var database: String
    public var holder: LockHolder?
    public var description: String {
        guard let holder else { return "database \(database) is locked by another controller" }
        return "database \(database) is being changed over by \(holder.changeover) (\(holder.actor), since "
            + "\(ISO8601DateFormatter().string(from: holder.since))); wait for it, or stop that controller and run resume or abort"
    }
}

extension StateStore {
    func lockPath(_ database: String) -> String { "\(directory)/locks/\(database).lock" }

    /// Takes the database's lock for `changeover`, or throws `DatabaseBusy` naming the holder.
    public func lock(database: String, changeover: String, actor: String) throws -> DatabaseLock {
        let path = lockPath(database)
        try FileManager.default.createDirectory(
            atPath: "\(directory)/locks", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw DatabaseBusy(database: database, holder: lockHolder(database: database))
        }
        let holder = LockHolder(changeover: changeover, actor: actor, pid: getpid(), since: Date())
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        let data = Array((try? encoder.encode(holder)) ?? Data())
        ftruncate(fd, 0)
        _ = pwrite(fd, data, data.count, 0)
        return DatabaseLock(fd: fd, holder: holder)
    }

    /// Who holds the database's lock now, or nil when no live controller does.
    public func lockHolder(database: String) -> LockHolder? {
        let path = lockPath(database)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(LockHolder.self, from: data)
    }
}
