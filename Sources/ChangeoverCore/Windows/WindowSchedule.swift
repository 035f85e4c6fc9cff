import Foundation

/// A database's weekly windows minus its freeze periods, turned into concrete openings.
///
/// Pure: the current time is always passed in; nothing reads a clock.
///
/// - Windows that overlap or touch (end of one == start of another) are merged into one
///   opening: a switchover may run across the seam. Merging stops once an opening is a week
///   long, so windows that together cover the whole week (always open) yield back-to-back
///   openings of about a week each instead of one endless opening.
/// - Openings are built from window occurrences that end after the given instant; an
///   occurrence that ended exactly then is not merged into one open at that instant.
/// - Freezes cut openings: only the parts outside every freeze remain; an opening wholly
///   inside a freeze disappears; a freeze inside an opening splits it in two.
/// - One-off openings (a slot agreed with the customer once, `oneOffWindows:` in the config)
///   count like occurrences of a weekly window that happens once: they merge with the others
///   and freezes cut them too.
public struct WindowSchedule: Sendable, Hashable {
    /// How far ahead ``nextFitting(after:needed:margin:notAfter:)`` looks.
    public static let horizon: Duration = .seconds(366 * 86_400)

    public let windows: [MaintenanceWindow]
    public let freezes: [FreezePeriod]
    /// Openings that happen once, sorted by start.
    public let oneOff: [WindowOpening]

    /// Freezes as absolute half-open intervals, sorted, overlapping ones merged.
    private let frozen: [WindowInterval]

    public init(windows: [MaintenanceWindow], freezes: [FreezePeriod] = [], oneOff: [WindowOpening] = []) {
        self.windows = windows
        self.freezes = freezes
        self.oneOff = oneOff.filter { $0.end > $0.start }.sorted { $0.start < $1.start }
        var intervals = freezes.map { WindowInterval(start: $0.startSeconds, end: $0.endSeconds) }
        intervals.sort { $0.start < $1.start }
        var merged: [WindowInterval] = []
        merged.reserveCapacity(intervals.count)
        for interval in intervals where interval.end > interval.start {
            if let lastIndex = merged.indices.last, interval.start <= merged[lastIndex].end {
                merged[lastIndex].end = max(merged[lastIndex].end, interval.end)
            } else {
                merged.append(interval)
            }
        }
        self.frozen = merged
    }

    /// The next `count` openings that end after `after`, in order, freezes applied.
    ///
    /// An opening already open at `after` is included with its real start (before `after`);
    /// use ``WindowOpening/contains(_:)`` to tell.
    public func openings(after: Date, count: Int) -> [WindowOpening] {
        guard count > 0 else { return [] }
        var iterator = WindowOpeningIterator(schedule: self, after: after.timeIntervalSince1970)
        var result: [WindowOpening] = []
        result.reserveCapacity(count)
        while result.count < count, let opening = iterator.next() {
            result.append(
                WindowOpening(
                    start: Date(timeIntervalSince1970: opening.start),
                    end: Date(timeIntervalSince1970: opening.end)))
        }
        return result
    }

    /// When a switchover needing `needed` plus `margin` may start.
    ///
    /// The fit rule: a switchover may start only if its opening has at least `needed + margin`
    /// left. If `now` is inside an opening with that much left, the answer starts at `now`;
    /// otherwise it is the first later opening at least that long. The answer runs to the
    /// opening's end.
    ///
    /// Returns nil if no opening fits such that the switchover can start within
    /// ``horizon`` of `now` and no later than `notAfter`. `notAfter` bounds the *start*; for a
    /// switchover that must be *finished* by a deadline, pass `deadline - needed - margin`.
    public func nextFitting(
        after now: Date, needed: Duration, margin: Duration, notAfter: Date? = nil
    ) -> WindowOpening? {
        let nowSeconds = now.timeIntervalSince1970
        let need = Self.seconds(needed + margin)
        var limit = nowSeconds + Self.seconds(Self.horizon)
        if let notAfter { limit = min(limit, notAfter.timeIntervalSince1970) }

        var iterator = WindowOpeningIterator(schedule: self, after: nowSeconds)
        while let opening = iterator.next() {
            let begin = max(opening.start, nowSeconds)
            if begin > limit { return nil }
            if opening.end - begin >= need {
                return WindowOpening(
                    start: begin == nowSeconds ? now : Date(timeIntervalSince1970: begin),
                    end: Date(timeIntervalSince1970: opening.end))
            }
        }
        return nil
    }

    static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    fileprivate var frozenIntervals: [WindowInterval] { frozen }
}

/// A half-open interval of seconds since 1970 UTC.
struct WindowInterval: Sendable, Hashable {
    var start: Double
    var end: Double
}

/// Walks a schedule's openings in order: merges the windows' occurrences, then cuts out
/// freezes. Jumps over long freezes instead of stepping week by week through them.
struct WindowOpeningIterator {
    private let windows: [MaintenanceWindow]
    private let oneOff: [WindowInterval]
    private let frozen: [WindowInterval]
    private let after: Double
    /// The next not-yet-used occurrence of each window, then each one-off opening (start and
    /// end infinite once used or over).
    private var upcoming: [MaintenanceWindow.Occurrence]
    /// What is left of the current merged opening after the freezes cut so far.
    private var remainder: WindowInterval?
    private var freezeIndex = 0
    /// End of the last union handed out; later ones start no earlier.
    private var mergedUntil = -Double.infinity

    init(schedule: WindowSchedule, after: Double) {
        self.windows = schedule.windows
        self.oneOff = schedule.oneOff.map {
            WindowInterval(start: $0.start.timeIntervalSince1970, end: $0.end.timeIntervalSince1970)
        }
        self.frozen = schedule.frozenIntervals
        self.after = after
        self.upcoming = schedule.windows.map { $0.occurrence(endingAfter: after) }
        for index in oneOff.indices {
            upcoming.append(Self.once(oneOff[index], endingAfter: after))
        }
    }

    private static let used = MaintenanceWindow.Occurrence(localDay: 0, start: .infinity, end: .infinity)

    /// A one-off opening as an occurrence, or `used` if it ends by `instant`.
    private static func once(_ interval: WindowInterval, endingAfter instant: Double) -> MaintenanceWindow.Occurrence {
        interval.end > instant ? .init(localDay: 0, start: interval.start, end: interval.end) : used
    }

    mutating func next() -> WindowInterval? {
        while true {
            if remainder == nil {
                guard let merged = nextMerged() else { return nil }
                guard merged.end > merged.start else { continue }
                remainder = merged
            }
            if let piece = cutNextPiece(), piece.end > after { return piece }
        }
    }

    /// The union of the earliest occurrence and everything overlapping or touching it, up to
    /// a week long, starting no earlier than the previous union ended.
    private mutating func nextMerged() -> WindowInterval? {
        guard var earliest = upcoming.indices.first else { return nil }
        for index in upcoming.indices where upcoming[index].start < upcoming[earliest].start {
            earliest = index
        }
        guard upcoming[earliest].start.isFinite else { return nil }
        var merged = WindowInterval(
            start: max(upcoming[earliest].start, mergedUntil), end: upcoming[earliest].end)
        advance(earliest)
        var grew = true
        while grew, merged.end - merged.start < Self.longestMerge {
            grew = false
            for index in upcoming.indices where upcoming[index].start <= merged.end {
                merged.end = max(merged.end, upcoming[index].end)
                advance(index)
                grew = true
            }
        }
        mergedUntil = max(mergedUntil, merged.end)
        return merged
    }

    private static let longestMerge = Double(7 * 86_400)

    private mutating func advance(_ index: Int) {
        upcoming[index] = index < windows.count ? windows[index].occurrence(after: upcoming[index]) : Self.used
    }

    /// Cuts the first part of `remainder` that lies outside every freeze, or nil if the
    /// rest of `remainder` is frozen.
    private mutating func cutNextPiece() -> WindowInterval? {
        guard var rest = remainder else { return nil }
        while true {
            while freezeIndex < frozen.count, frozen[freezeIndex].end <= rest.start {
                freezeIndex += 1
            }
            guard freezeIndex < frozen.count, frozen[freezeIndex].start < rest.end else {
                remainder = nil
                return rest
            }
            let freeze = frozen[freezeIndex]
            if freeze.start > rest.start {
                remainder = freeze.end < rest.end ? WindowInterval(start: freeze.end, end: rest.end) : nil
                return WindowInterval(start: rest.start, end: freeze.start)
            }
            guard freeze.end < rest.end else {
                // Frozen to the end: skip every occurrence that ends inside this freeze.
                remainder = nil
                for index in upcoming.indices where upcoming[index].end <= freeze.end {
                    upcoming[index] =
                        index < windows.count
                        ? windows[index].occurrence(endingAfter: freeze.end)
                        : Self.once(oneOff[index - windows.count], endingAfter: freeze.end)
                }
                return nil
            }
            rest.start = freeze.end
        }
    }
}
