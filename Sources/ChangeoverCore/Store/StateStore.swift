#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// What the controller knows about one changeover, written before each step acts.
public struct ChangeoverRecord: Sendable, Codable, Equatable {
    public var id: String
    public var database: String
    public var fromImage: String
    public var toImage: String
    public var machine: ChangeoverMachine
    public var startedAt: Date
    public var updatedAt: Date
    /// Figures and names the steps learned: slot, follower port and data directory, LSNs.
    public var facts: [String: String]
    public var timings: [StepTiming]
    /// When the switchover may happen: now, in a window, or held for `switch`. Absent in records
    /// written before scheduling existed: those switched at once.
    public var policy: SwitchPolicy?
    /// Set while the changeover is stopped before its switchover (a signal, or `prepare` done);
    /// cleared when a controller continues it.
    public var stopped: StopNote?

    public struct StepTiming: Sendable, Codable, Equatable {
        public var step: ChangeoverStep
        public var milliseconds: Double
        public var outcome: String
        /// Remote calls tried again during the step.
        public var retries: Int?

        public init(step: ChangeoverStep, milliseconds: Double, outcome: String, retries: Int? = nil) {
            self.step = step
            self.milliseconds = milliseconds
            self.outcome = outcome
            self.retries = retries
        }
    }
}

/// The current primary of a database as the last changeover left it; overrides the config,
/// whose primary is the one the database had when it was written.
public struct DatabaseState: Sendable, Codable, Equatable {
    public var database: String
    public var image: String
    /// The primary's conninfo without a password.
    public var primary: String
    public var dataDirectory: String?
    public var changedAt: Date
    public var changeover: String
    /// The container the primary runs in (docker provisioner).
    public var container: String? = nil
}

/// The embedded state store: one JSON file per changeover and per database under the state
/// directory, each replaced atomically (write, fsync, rename, fsync the directory).
public struct StateStore: Sendable {
    public var directory: String

    public init(directory: String) { self.directory = directory }

    var changeoversDirectory: String { "\(directory)/changeovers" }
    var databasesDirectory: String { "\(directory)/databases" }

    /// With `sync: false` the file is replaced (a killed process loses nothing) but not synced.
    public func save(_ record: ChangeoverRecord, sync: Bool = true) throws {
        try write(record, to: "\(changeoversDirectory)/\(record.id).json", sync: sync)
    }

    public func changeover(_ id: String) throws -> ChangeoverRecord? {
        try read(ChangeoverRecord.self, from: "\(changeoversDirectory)/\(id).json")
    }

    /// All changeovers, newest first.
    public func changeovers() throws -> [ChangeoverRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: changeoversDirectory)) ?? []
        return try names.filter { $0.hasSuffix(".json") }
            .compactMap { try read(ChangeoverRecord.self, from: "\(changeoversDirectory)/\($0)") }
            .sorted { $0.startedAt > $1.startedAt }
    }

    public func save(_ state: DatabaseState) throws {
        try write(state, to: "\(databasesDirectory)/\(state.database).json")
    }

    public func database(_ name: String) throws -> DatabaseState? {
        try read(DatabaseState.self, from: "\(databasesDirectory)/\(name).json")
    }

    private func write(_ value: some Encodable, to path: String, sync: Bool = true) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let data = try encoder.encode(value)
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let synced = sync ? fsync(fd) : 0
        close(fd)
        guard written == data.count, synced == 0 else {
            unlink(temporary)
            throw StoreError("cannot write \(path): short write or fsync failure")
        }
        guard rename(temporary, path) == 0 else {
            throw StoreError("cannot replace \(path): \(String(cString: strerror(errno)))")
        }
        guard sync else { return }
        let dirfd = open(folder, O_RDONLY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }

    private func read<T: Decodable>(_ type: T.Type, from path: String) throws -> T? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do {
            return try decoder.decode(type, from: data)
        } catch {
            throw StoreError("state file \(path) is unreadable: \(error)")
        }
    }
}

// MARK: one controller per database

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
        try FileManager.default.createDirectory(atPath: "\(directory)/locks", withIntermediateDirectories: true,
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

    /// The last progress line of a running changeover (written at most once a second).
    public func progress(of changeover: String) -> String? {
        try? String(contentsOfFile: "\(changeoversDirectory)/\(changeover).progress", encoding: .utf8)
    }

    /// The latest retry of a changeover's remote calls, for `status`.
    public func lastRetry(of changeover: String) -> RetryNote? {
        guard let data = FileManager.default.contents(atPath: "\(changeoversDirectory)/\(changeover).retry") else { return nil }
        return try? JSONDecoder().decode(RetryNote.self, from: data)
    }

    func saveRetry(_ note: RetryNote, of changeover: String) {
        guard let data = try? JSONEncoder().encode(note) else { return }
        try? data.write(to: URL(fileURLWithPath: "\(changeoversDirectory)/\(changeover).retry"), options: .atomic)
    }

    func saveProgress(_ text: String, of changeover: String) {
        let path = "\(changeoversDirectory)/\(changeover).progress"
        try? text.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
