import Foundation

/// One database as a campaign sees it.
public struct CampaignEntry: Sendable {
    public var database: String
    public var engine: DatabaseConfig.EngineKind
    /// The image it runs now (the store's word after a changeover, else the config's).
    public var image: String
    /// Its `tier` label; nil when it has none.
    public var tier: String?
    /// Where its primary runs, for `--max-parallel-per-host`.
    public var host: String
    public var schedule: WindowSchedule
    /// How long its switchover is expected to take (its history, else the default).
    public var needed: Duration

    public init(
        database: String, engine: DatabaseConfig.EngineKind, image: String, tier: String?, host: String,
        schedule: WindowSchedule, needed: Duration
    ) {
        self.database = database
        self.engine = engine
        self.image = image
        self.tier = tier
        self.host = host
        self.schedule = schedule
        self.needed = needed
    }
}

/// What a campaign would do: its waves in order, each database with the window it is expected
/// to switch in, and what it leaves out and why. Pure: time and inventory are passed in.
public struct CampaignPlan: Sendable {
    public struct Member: Sendable, Equatable {
        public var database: String
        public var tier: String?
        public var host: String
        /// The window it is expected to switch in, nil when none fits before the horizon or the deadline.
        public var opening: WindowOpening?
        /// No window fits before the deadline: it runs at the deadline (forced).
        public var forcedAt: Date?
        public var needed: Duration
        /// The image it changes over to.
        public var image: String = ""

        /// When it is expected to be done: its window's start (or the deadline) plus its switchover.
        public var expectedEnd: Date? {
            (opening?.start ?? forcedAt).map { $0.addingTimeInterval(WindowSchedule.seconds(needed)) }
        }
    }

    public struct Wave: Sendable {
        public var wave: CampaignWave
        /// In the order they are expected to switch.
        public var members: [Member]
        /// The earliest a switchover of this wave may start: when the previous wave is expected done.
        public var notBefore: Date
        /// When its last member is expected done; nil when a member has no window.
        public var expectedEnd: Date?
    }

    public struct Skipped: Sendable, Equatable, Codable {
        public var database: String
        public var reason: String
    }

    public var waves: [Wave]
    public var skipped: [Skipped]

    public var memberCount: Int { waves.reduce(0) { $0 + $1.members.count } }
    /// When the last wave is expected to be done, gates not counted; nil when a member has no window.
    public var expectedEnd: Date? { waves.last?.expectedEnd ?? waves.last?.notBefore }
}

public enum CampaignPlanner {
    /// Plans a campaign to `image`: the databases not on it yet (and on `from`, when given), by
    /// tier into `waves`, each database in its own next fitting window after the previous wave
    /// is expected done. A database whose tier no wave names is left out, and so is one already
    /// on `image`; a wave that names no tier and has no share is an error, since it would take nothing.
    /// `image` is one image for every database, or old=new pairs (see `CampaignImages`).
    /// `engineOf` tells an image's engine where it is known: a database of another engine is
    /// left out ("engine: …") rather than put in a wave bound for an image it cannot run.
    public static func plan(
        entries: [CampaignEntry], waves: [CampaignWave], image: String, from: String? = nil,
        now: Date, margin: Duration, deadline: Date? = nil,
        engineOf: (String) -> DatabaseConfig.EngineKind? = { _ in nil }
    ) throws(CampaignError) -> CampaignPlan {
        let tiers = Set(entries.compactMap(\.tier))
        for wave in waves where wave.share == nil && !tiers.contains(wave.name) {
            throw CampaignError(
                "wave \(wave.name) names no tier of the inventory (tiers: \(tiers.isEmpty ? "none" : tiers.sorted().joined(separator: ", "))); give it a share (\(wave.name):5%) to sample the later waves"
            )
        }
        var skipped: [CampaignPlan.Skipped] = []
        var remaining: [String: [CampaignEntry]] = [:]  // by tier, in a stable spread order
        let named = Set(waves.map(\.name))
        let targets = try CampaignImages.parse(image, from: from)
        var targetOf: [String: String] = [:]
        // Asked once per image: the config's answer looks at every database.
        var engines: [String: DatabaseConfig.EngineKind?] = [:]
        func engine(of image: String) -> DatabaseConfig.EngineKind? {
            if let known = engines[image] { return known }
            let found = engineOf(image)
            engines[image] = .some(found)
            return found
        }
        for entry in entries {
            let target = targets.target(from: entry.image)
            if let reason = target.leftOut {
                skipped.append(.init(database: entry.database, reason: reason))
            } else if let engine = engine(of: target.image), engine != entry.engine {
                skipped.append(
                    .init(
                        database: entry.database,
                        reason:
                            "engine: \(target.image) is a \(engine.rawValue) image, the database runs \(entry.engine.rawValue)"
                    ))
            } else if let tier = entry.tier, named.contains(tier) {
                targetOf[entry.database] = target.image
                remaining[tier, default: []].append(entry)
            } else {
                skipped.append(
                    .init(
                        database: entry.database,
                        reason: entry.tier.map { "tier \($0) is in no wave" } ?? "it has no tier label"))
            }
        }
        for tier in remaining.keys { remaining[tier] = spread(remaining[tier]!) }

        var planned: [CampaignPlan.Wave] = []
        var notBefore = now
        for (index, wave) in waves.enumerated() {
            var taken: [CampaignEntry] = []
            if tiers.contains(wave.name) {
                let pool = remaining[wave.name] ?? []
                let count = wave.share.map { share(of: pool.count, $0) } ?? pool.count
                taken = Array(pool.prefix(count))
                remaining[wave.name] = Array(pool.dropFirst(count))
            } else if let percent = wave.share {
                // A sample of what the later waves would take, spread over their tiers and hosts.
                let later = Set(waves[(index + 1)...].map(\.name))
                let pool = spread(later.sorted().flatMap { remaining[$0] ?? [] })
                taken = Array(pool.prefix(share(of: pool.count, percent)))
                let picked = Set(taken.map(\.database))
                for tier in later { remaining[tier]?.removeAll { picked.contains($0.database) } }
            }
            let members = taken.map { entry in
                member(
                    entry, image: targetOf[entry.database] ?? "", after: notBefore, margin: margin, deadline: deadline)
            }
            .map { (start: ($0.opening?.start ?? $0.forcedAt ?? .distantFuture).timeIntervalSince1970, member: $0) }
            .sorted { ($0.start, $0.member.database) < ($1.start, $1.member.database) }
            .map(\.member)
            let ends = members.map(\.expectedEnd)
            let end: Date? = ends.contains(nil) ? nil : (ends.compactMap { $0 }.max() ?? notBefore)
            planned.append(.init(wave: wave, members: members, notBefore: notBefore, expectedEnd: end))
            notBefore = end ?? notBefore
        }
        return CampaignPlan(waves: planned, skipped: skipped.sorted { $0.database < $1.database })
    }

    /// When a campaign under way is expected to be done: `waves` are what remains of each wave
    /// from the current one on (members not ended), each in its next fitting window after the
    /// previous wave is expected done; a member already switching counts from `now`. Nil when a
    /// member has no fitting window.
    public static func expectedEnd(
        waves: [[(entry: CampaignEntry, started: Bool)]], now: Date, margin: Duration,
        deadline: Date?
    ) -> Date? {
        var notBefore = now
        for wave in waves {
            var end = notBefore
            for (entry, started) in wave {
                let memberEnd =
                    started
                    ? now.addingTimeInterval(WindowSchedule.seconds(entry.needed))
                    : member(entry, after: notBefore, margin: margin, deadline: deadline).expectedEnd
                guard let memberEnd else { return nil }
                end = max(end, memberEnd)
            }
            notBefore = end
        }
        return notBefore
    }

    private static func member(
        _ entry: CampaignEntry, image: String = "", after: Date, margin: Duration, deadline: Date?
    ) -> CampaignPlan.Member {
        let latestStart = deadline.map { $0.addingTimeInterval(-WindowSchedule.seconds(entry.needed + margin)) }
        let opening = entry.schedule.nextFitting(
            after: after, needed: entry.needed, margin: margin, notAfter: latestStart)
        let forced: Date? = opening == nil ? deadline.map { max($0, after) } : nil
        return .init(
            database: entry.database, tier: entry.tier, host: entry.host, opening: opening, forcedAt: forced,
            needed: entry.needed, image: image)
    }

    /// At least one of a non-empty pool: a share never rounds a wave away.
    static func share(of count: Int, _ percent: Double) -> Int {
        guard count > 0 else { return 0 }
        return min(count, max(1, Int((Double(count) * percent / 100).rounded(.up))))
    }

    /// A stable order that looks random (FNV-1a of the name), so that a sample is spread over
    /// hosts and names rather than the alphabetically first ones, and the same on every run.
    static func spread(_ entries: [CampaignEntry]) -> [CampaignEntry] {
        entries.map { entry in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in entry.database.utf8 {
                hash ^= UInt64(byte)
                hash &*= 0x100_0000_01b3
            }
            return (hash, entry)
        }
        .sorted { ($0.0, $0.1.database) < ($1.0, $1.1.database) }
        .map(\.1)
    }
}

/// What a campaign changes over to: one image for every database (`--image pg15-patched`,
/// with `--from pg15` only those on pg15), or each old image's patched successor
/// (`--image pg15=pg15-patched,redis7=redis7-patched`), for a fleet of several engines or
/// versions patched by one campaign.
public struct CampaignImages: Sendable, Equatable {
    /// Old image → new; empty when one image is for all.
    public var pairs: [String: String]
    public var single: String?
    public var from: String?

    public static func parse(_ text: String, from: String? = nil) throws(CampaignError) -> CampaignImages {
        guard text.contains("=") else { return CampaignImages(pairs: [:], single: text, from: from) }
        guard from == nil else { throw CampaignError("--from goes with one --image, not with old=new pairs (\(text))") }
        var pairs: [String: String] = [:]
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let sides = part.split(separator: "=", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard sides.count == 2, !sides[0].isEmpty, !sides[1].isEmpty else {
                throw CampaignError(
                    "--image: \"\(part)\" is not old=new (give pg15=pg15-patched,redis7=redis7-patched)")
            }
            guard sides[0] != sides[1] else { throw CampaignError("--image: \(part) changes nothing") }
            guard pairs[sides[0]] == nil else { throw CampaignError("--image: \(sides[0]) is given twice") }
            pairs[sides[0]] = sides[1]
        }
        return CampaignImages(pairs: pairs, single: nil, from: nil)
    }

    /// Every image named, old and new, for checking against the config.
    public var names: [String] {
        pairs.isEmpty ? [single, from].compactMap { $0 } : (Array(pairs.keys) + Array(pairs.values)).sorted()
    }

    /// The image a database on `current` changes over to, or why it is left out.
    public func target(from current: String) -> (image: String, leftOut: String?) {
        if let single {
            if current == single { return (single, "already on \(single)") }
            if let from, current != from { return (single, "on \(current), not \(from)") }
            return (single, nil)
        }
        if let next = pairs[current] { return (next, nil) }
        if pairs.values.contains(current) { return (current, "already on \(current)") }
        return (current, "on \(current), which the campaign does not patch")
    }
}
