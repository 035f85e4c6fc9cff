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

    public struct StepTiming: Sendable, Codable, Equatable {
        public var step: ChangeoverStep
        public var milliseconds: Double
        public var outcome: String
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
        let fd = open(temporary, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
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

public struct StoreError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
