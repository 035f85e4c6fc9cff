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
            writePauseMilliseconds = step == .done ? record.facts.writePauseMilliseconds : nil
            forced = record.facts.windowDecision == "forced"
            rollbackUnfinished = record.machine.rollbackUnfinished == true
        }
    }

    /// What the last look found: the entries in order and where each id is among them (one
    /// copy of each entry: thousands are kept), the records remembered since, the store's
    /// change version the entries are as of (nil: unknown), and a count of looks that found
    /// something changed.
    private struct Kept {
        var entries: [Entry] = []
        var positions: [String: Int] = [:]
        var remembered: [String: Entry] = [:]
        var version: Int64?
        var generation = 0

        /// The stamp kept for `id`, read in place.
        func stamp(_ id: String) -> Double? {
            if let entry = remembered[id] { return entry.stamp }
            return positions[id].map { entries[$0].stamp }
        }
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
                kept.remembered[record.id] = Entry(record, stamp: record.updatedAt.timeIntervalSince1970)
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
        let known = kept.withLock { $0 }
        let stale = stamps.filter { known.stamp($0.id) != $0.updatedAt }.map(\.id)
        var fresh: [String: Entry] = [:]
        // A record saved again between the two reads comes with its newer stamp, which is kept.
        for (stamp, record) in try store.changeovers(ids: stale) {
            fresh[record.id] = Entry(record, stamp: stamp.updatedAt)
        }
        if fresh.isEmpty, known.remembered.isEmpty, stamps.count == known.entries.count,
            stamps.indices.allSatisfy({ known.entries[$0].id == stamps[$0].id })
        {
            // Nothing changed since the last look (another process's write to a table counted
            // with these): the entries as they were.
            kept.withLock { if $0.generation == known.generation { $0.version = version } }
            return known.entries
        }
        var entries: [Entry] = []
        entries.reserveCapacity(stamps.count)
        var positions: [String: Int] = [:]
        positions.reserveCapacity(stamps.count)
        for stamp in stamps {
            // Absent only if the row went away between the two reads.
            let entry: Entry
            if let read = fresh[stamp.id] {
                entry = read
            } else if let saved = known.remembered[stamp.id] {
                entry = saved
            } else if let position = known.positions[stamp.id] {
                entry = known.entries[position]
            } else {
                continue
            }
            positions[stamp.id] = entries.count
            entries.append(entry)
        }
        kept.withLock {
            let generation = $0.generation
            $0 = Kept(
                entries: entries, positions: positions, remembered: [:], version: version, generation: generation + 1)
        }
        return entries
    }
}
