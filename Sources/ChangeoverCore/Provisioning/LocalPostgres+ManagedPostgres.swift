import Foundation

/// A data directory on this host as the engines manage it.
extension LocalPostgres: ManagedPostgres {
    public var location: String { "data directory \(dataDirectory)" }

    public func startAgain(log: String, timeout: Duration) async throws {
        _ = try await restart(logFile: log, timeout: timeout)
    }

    public func removeSlotDirectory(_ slot: String) async throws {
        let slotDirectory = "\(dataDirectory)/pg_replslot/\(slot)"
        if FileManager.default.fileExists(atPath: slotDirectory) {
            try FileManager.default.removeItem(atPath: slotDirectory)
        }
    }
}
