#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

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

extension StateStore {
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
