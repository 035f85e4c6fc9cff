import Foundation
import Synchronization

/// A changeover's row as its store holds it, without its record: every save writes a new
/// `updatedAt` (each writer sets it just before), so a changed one says the record changed.
public struct ChangeoverStamp: Sendable, Equatable {
    public var id: String
    /// Seconds since 1970, as the row holds them.
    public var updatedAt: Double

    public init(id: String, updatedAt: Double) {
        self.id = id
        self.updatedAt = updatedAt
    }

    /// How many ids one query asks for.
    static let batch = 500
}

/// The changeovers of a store as of the last look, each record decoded once and read again only
/// when its row's stamp changed. A daemon looks at every changeover every few seconds, and
/// decoding thousands of records on each look was most of the look's work. A changeover that
/// has ended is kept as a summary (what a look needs of it); its record is read when asked for.
/// Shared by several looks at once: each reads the stamps and leaves its result for the next.
public final class ChangeoverIndex: Sendable {
    public struct Entry: Sendable {
        public let id: String
        public let database: String
        public let toImage: String
        public let step: ChangeoverStep
        public let canContinue: Bool
        /// The row's `updatedAt` to the instant (the record's JSON keeps whole seconds): what
        /// changes with every save.
        public let stamp: Double
        /// The whole record while the changeover can continue; nil once it has ended.
        public let record: ChangeoverRecord?
        /// What the metrics count, kept for an ended changeover too: its steps' timings, its
        /// write pause (completed ones), whether a deadline forced it, whether its rollback
        /// did not finish.
        public let timings: [ChangeoverRecord.StepTiming]
        public let writePauseMilliseconds: Double?
        public let forced: Bool
        public let rollbackUnfinished: Bool

        init(_ record: ChangeoverRecord, stamp: Double) {
            id = record.id
            database = record.database
            toImage = record.toImage
            step = record.machine.step
            canContinue = record.machine.canContinue
            self.stamp = stamp
            self.record = canContinue ? record : nil
            timings = record.timings
            writePauseMilliseconds = step == .done ? record.facts["writePause.ms"].flatMap(Double.init) : nil
            forced = record.facts["window.decision"] == "forced"
            rollbackUnfinished = record.machine.rollbackUnfinished == true
        }
    }

    /// What the last look found: each changeover with the stamp it was read at, the entries in
    /// order, the store's change version they are as of (nil: unknown), and a count of looks
    /// that found something changed.
    private struct Kept {
        var byID: [String: (stamp: Double, entry: Entry)] = [:]
        var entries: [Entry] = []
        var version: Int64?
        var generation = 0
    }

    private let kept = Mutex(Kept())

    public init() {}

    /// Lets every kept record go (the config may name another store).
    public func forget() {
        kept.withLock {
            let generation = $0.generation
            $0 = Kept()
            $0.generation = generation + 1
        }
    }

    /// Changes whenever a look finds the changeovers changed (or `forget` lets them go): a
    /// caller that derived something from the entries may keep it while this stays the same.
    public var generation: Int { kept.withLock { $0.generation } }

    /// Keeps records the caller has just saved, as their rows hold them (every save writes
    /// `updatedAt` to the row's stamp): the next look finds their stamps known and decodes
    /// none of them.
    public func remember(_ records: [ChangeoverRecord]) {
        kept.withLock { kept in
            for record in records {
                let stamp = record.updatedAt.timeIntervalSince1970
                kept.byID[record.id] = (stamp, Entry(record, stamp: stamp))
            }
            kept.version = nil
        }
    }

    /// Every changeover in `store`, newest first (as `changeovers()` orders them). While the
    /// store's change version is the one of the last look, what that look found; else one read
    /// of the stamps, and one of the records whose stamp is not the one kept.
    public func look(_ store: StateStore) throws -> [Entry] {
        // Read before the stamps: a write between the two reads leaves a version older than
        // the entries, and the next look reads again.
        let version = try store.changeVersion()
        if let version, let entries = kept.withLock({ $0.version == version ? $0.entries : nil }) { return entries }
        let stamps = try store.changeoverStamps()
        let known = kept.withLock { $0.byID }
        let stale = stamps.filter { known[$0.id]?.stamp != $0.updatedAt }.map(\.id)
        var fresh: [String: (stamp: Double, entry: Entry)] = [:]
        // A record saved again between the two reads comes with its newer stamp, which is kept.
        for (stamp, record) in try store.changeovers(ids: stale) {
            fresh[record.id] = (stamp.updatedAt, Entry(record, stamp: stamp.updatedAt))
        }
        if fresh.isEmpty, stamps.count == known.count {
            // Nothing changed since the last look (another process's write to a table counted
            // with these): the entries as they were.
            let entries = kept.withLock { kept -> [Entry]? in
                guard kept.byID.count == stamps.count, kept.entries.count == stamps.count,
                      zip(kept.entries, stamps).allSatisfy({ $0.id == $1.id }) else { return nil }
                kept.version = version
                return kept.entries
            }
            if let entries { return entries }
        }
        var next: [String: (stamp: Double, entry: Entry)] = [:]
        next.reserveCapacity(stamps.count)
        var entries: [Entry] = []
        entries.reserveCapacity(stamps.count)
        for stamp in stamps {
            // Absent only if the row went away between the two reads.
            guard let item = fresh[stamp.id] ?? known[stamp.id] else { continue }
            next[stamp.id] = item
            entries.append(item.entry)
        }
        kept.withLock {
            $0.byID = next
            $0.entries = entries
            $0.version = version
            $0.generation += 1
        }
        return entries
    }
}
