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

/// An exclusive lock on one database, which dies with the process that holds it (a crashed
/// controller never blocks the next one) and whose file descriptors are never inherited by the
/// servers a controller starts.
///
/// A database's lock is a write lock on one byte of `locks/databases.lock`, at an offset
/// hashed from its name (an open-file-description lock: exclusive between two descriptions even
/// in one process, released when its description closes). A controller that holds the database
/// for a while (runs, resumes, aborts a changeover) also takes `flock` on `locks/NAME.lock` and
/// writes itself there, so that others can name it. Recording a scheduled changeover holds the
/// lock for milliseconds and takes the byte alone: a daemon recording 10,000 `schedule:` entries
/// creates no file per database (creating 10,000 files took 6–8 s of an ext4 disk's time here).
public final class DatabaseLock: Sendable {
    private let descriptors: [Int32]
    public let holder: LockHolder

    init(descriptors: [Int32], holder: LockHolder) {
        self.descriptors = descriptors
        self.holder = holder
    }

    deinit { for fd in descriptors { close(fd) } }
}

/// Another controller is working on the database.
public struct DatabaseBusy: Error, CustomStringConvertible, Sendable {
    public var database: String
    public var holder: LockHolder?
    public var description: String {
        guard let holder, !holder.changeover.isEmpty else {
            return "database \(database) is locked by \(holder?.actor ?? "another controller"); try again"
        }
        return "database \(database) is being changed over by \(holder.changeover) (\(holder.actor), since "
            + "\(ISO8601DateFormatter().string(from: holder.since))); wait for it, or stop that controller and run resume or abort"
    }
}

extension StateStore {
    func lockPath(_ database: String) -> String { "\(directory)/locks/\(database).lock" }
    var lockRangePath: String { "\(directory)/locks/databases.lock" }

    /// What `lockHolder` says of a lock taken by `lockToRecord` (it writes no holder).
    public static let recordingHolder = "a controller recording a scheduled changeover"

    /// Takes the database's lock for `changeover` and writes its holder, or throws
    /// `DatabaseBusy` naming the holder.
    public func lock(database: String, changeover: String, actor: String) throws -> DatabaseLock {
        let holder = LockHolder(changeover: changeover, actor: actor, pid: getpid(), since: Date())
        let range = try lockRange(database)
        let path = lockPath(database)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            range.map { _ = close($0) }
            throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        // The file's own lock too: a controller of an earlier version takes only that one.
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            range.map { _ = close($0) }
            throw DatabaseBusy(database: database, holder: lockHolder(database: database))
        }
        Self.write(holder, to: fd)
        return DatabaseLock(descriptors: [fd] + (range.map { [$0] } ?? []), holder: holder)
    }

    /// Takes the database's lock to check and record a scheduled changeover, writing no holder
    /// and creating no file of its own; the same lock as `lock`'s, so each refuses the other.
    public func lockToRecord(database: String, changeover: String, actor: String) throws -> DatabaseLock {
        guard let range = try lockRange(database) else {
            return try lock(database: database, changeover: changeover, actor: actor)
        }
        // A controller of an earlier version takes only the database's own file: seen when it
        // holds it, though not excluded if it takes it this instant.
        if lockFileHolder(database) != nil {
            close(range)
            throw DatabaseBusy(database: database, holder: lockHolder(database: database))
        }
        return DatabaseLock(
            descriptors: [range], holder: LockHolder(changeover: changeover, actor: actor, pid: getpid(), since: Date())
        )
    }

    /// Who holds the database's lock now, or nil when no live controller does.
    public func lockHolder(database: String) -> LockHolder? {
        if let holder = lockFileHolder(database) { return holder }
        #if os(Linux)
            let fd = open(lockRangePath, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var probe = Self.byte(of: database, type: F_WRLCK)
            guard fcntl(fd, Self.ofdGetLock, &probe) == 0, Int32(probe.l_type) != F_UNLCK else { return nil }
            return LockHolder(changeover: "", actor: Self.recordingHolder, pid: 0, since: Date())
        #else
            return nil
        #endif
    }

    /// The holder written in the database's own lock file while a controller holds that file.
    private func lockFileHolder(_ database: String) -> LockHolder? {
        let path = lockPath(database)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return nil
        }
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return Self.holder(from: data)
    }

    /// The database's byte of `locks/databases.lock`, locked on a description of its own; throws
    /// `DatabaseBusy` when another description holds it. Nil where open-file-description locks
    /// do not exist (not Linux): there the database's own file is the lock.
    private func lockRange(_ database: String) throws -> Int32? {
        try FileManager.default.createDirectory(
            atPath: "\(directory)/locks", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        #if os(Linux)
            let fd = open(lockRangePath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw StoreError("cannot open \(lockRangePath): \(String(cString: strerror(errno)))")
            }
            var byte = Self.byte(of: database, type: F_WRLCK)
            guard fcntl(fd, Self.ofdSetLock, &byte) == 0 else {
                close(fd)
                throw DatabaseBusy(database: database, holder: lockHolder(database: database))
            }
            return fd
        #else
            return nil
        #endif
    }

    #if os(Linux)
        /// Linux's open-file-description lock commands (<fcntl.h> declares them under
        /// `_GNU_SOURCE` only, which Swift's Glibc module is built without).
        static let ofdGetLock: Int32 = 36
        static let ofdSetLock: Int32 = 37

        /// The byte of `locks/databases.lock` that stands for `database`: FNV-1a of its name in
        /// 62 bits, so that two of a fleet's names share a byte with odds of about n²/2⁶³.
        static func byte(of database: String, type: Int32) -> flock {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for unit in database.utf8 {
                hash = (hash ^ UInt64(unit)) &* 0x100_0000_01b3
            }
            var lock = flock()
            lock.l_type = Int16(type)
            lock.l_whence = Int16(SEEK_SET)
            lock.l_start = off_t(hash & 0x3FFF_FFFF_FFFF_FFFF)
            lock.l_len = 1
            lock.l_pid = 0
            return lock
        }
    #endif

    /// Writes `holder` over the start of its lock file without truncating it: padded with
    /// spaces to the file's length (at least 256 bytes), which `holder(from:)` trims. Truncating
    /// and writing again frees and allocates the file's block each time: 3.4 s for 10,000 files
    /// here, against 0.26 s for writing in place.
    static func write(_ holder: LockHolder, to fd: Int32) {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        var data = Array((try? encoder.encode(holder)) ?? Data())
        var status = stat()
        let size = fstat(fd, &status) == 0 ? Int(status.st_size) : 0
        let length = max(256, size, data.count)
        data += Array(repeating: UInt8(ascii: " "), count: length - data.count)
        _ = pwrite(fd, data, data.count, 0)
    }

    /// A holder as `write` left it (or as an earlier version did, unpadded).
    static func holder(from data: Data) -> LockHolder? {
        guard let end = data.lastIndex(where: { $0 != UInt8(ascii: " ") && $0 != 0 && $0 != UInt8(ascii: "\n") })
        else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(LockHolder.self, from: data[data.startIndex...end])
    }
}
