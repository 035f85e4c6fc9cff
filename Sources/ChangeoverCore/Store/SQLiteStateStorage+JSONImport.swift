import Foundation
import GRDB

/// The state directory an earlier version wrote: one JSON file per changeover
/// (`changeovers/ID.json`) and per database (`databases/NAME.json`). The first open of the
/// SQLite store imports them, in the migration that runs once per file (so once, however many
/// processes open it); the files are then left alone and no longer read.
extension SQLiteStateStorage {
    static func hasJSONFiles(directory: String) -> Bool {
        ["changeovers", "databases"].contains { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(folder)")) ?? []).contains {
                $0.hasSuffix(".json")
            }
        }
    }

    static func importJSONFiles(directory: String, _ db: Database) throws {
        for (_, record) in try jsonFiles(ChangeoverRecord.self, in: "\(directory)/changeovers") {
            try upsert(record, json: try encode(record), db)
            // An ended changeover's durations join the history, so the estimates keep theirs.
            if record.machine.step.isTerminal {
                try replaceDurations(of: record.id, with: DurationSample.samples(of: record), db)
            }
        }
        for (_, state) in try jsonFiles(DatabaseState.self, in: "\(directory)/databases") {
            try upsert(state, json: try encode(state), db)
        }
    }

    /// The decoded `*.json` files of a folder; a file that does not decode stops the import with
    /// its path (nothing is imported: the migration's transaction rolls back).
    private static func jsonFiles<T: Decodable>(_ type: T.Type, in folder: String) throws -> [(String, T)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            $0.hasSuffix(".json")
        }.sorted()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try names.compactMap { name in
            let path = "\(folder)/\(name)"
            guard let data = FileManager.default.contents(atPath: path) else { return nil }
            do {
                return (path, try decoder.decode(type, from: data))
            } catch {
                throw StoreError("cannot import the state file \(path): \(StoreError.oneLine(error))")
            }
        }
    }
}
