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

    private let kept = Mutex<[String: (stamp: Double, entry: Entry)]>([:])

    public init() {}

    /// Lets every kept record go (the config may name another store).
    public func forget() {
        kept.withLock { $0 = [:] }
    }

    /// Every changeover in `store`, newest first (as `changeovers()` orders them): one read of
    /// the stamps, and one of the records whose stamp is not the one kept.
    public func look(_ store: StateStore) throws -> [Entry] {
        let stamps = try store.changeoverStamps()
        let known = kept.withLock { $0 }
        let stale = stamps.filter { known[$0.id]?.stamp != $0.updatedAt }.map(\.id)
        var fresh: [String: (stamp: Double, entry: Entry)] = [:]
        // A record saved again between the two reads comes with its newer stamp, which is kept.
        for (stamp, record) in try store.changeovers(ids: stale) {
            fresh[record.id] = (stamp.updatedAt, Entry(record, stamp: stamp.updatedAt))
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
        kept.withLock { $0 = next }
        return entries
    }
}
