import Foundation

/// What a changeover learned as it went (where its follower runs, the final position, how long
/// the pause was), persisted with it before each step acts.
///
/// On disk it is the JSON object of strings a record has always held: `{"follower.port":
/// "24635", "slot.released": "true", …}`. Facts with a fixed meaning are read and written through
/// typed properties (`followerPort` is an `Int`, `slotReleased` a `Bool`), which keep the stored
/// text in the form earlier versions wrote and read, so a record moves between versions in both
/// directions. Keys a property does not name — a provisioner's own (`follower.container`,
/// `image.to.libc6`, an exec command's `follower.*`), or a newer version's — are kept as they
/// are and written back unchanged; the string subscript reaches them.
public struct ChangeoverFacts: Sendable, Equatable, Codable, Sequence, ExpressibleByDictionaryLiteral {
    /// Every fact as stored: key to text.
    public private(set) var values: [String: String]

    public init(_ values: [String: String] = [:]) { self.values = values }

    public init(dictionaryLiteral elements: (String, String)...) {
        values = Dictionary(elements) { _, new in new }
    }

    public init(from decoder: any Decoder) throws {
        values = try decoder.singleValueContainer().decode([String: String].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(values)
    }

    /// The fact stored under `key`, as text: for the keys no property names. Setting nil removes it.
    public subscript(key: String) -> String? {
        get { values[key] }
        set { values[key] = newValue }
    }

    public func makeIterator() -> Dictionary<String, String>.Iterator { values.makeIterator() }

    public var isEmpty: Bool { values.isEmpty }
    public var keys: Dictionary<String, String>.Keys { values.keys }

    /// Adds `other`'s facts; `combine` picks the text where both have a key.
    public mutating func merge(_ other: ChangeoverFacts, uniquingKeysWith combine: (String, String) -> String) {
        values.merge(other.values, uniquingKeysWith: combine)
    }

    public func merging(_ other: ChangeoverFacts, uniquingKeysWith combine: (String, String) -> String)
        -> ChangeoverFacts
    {
        ChangeoverFacts(values.merging(other.values, uniquingKeysWith: combine))
    }

    /// The facts `isIncluded` keeps.
    public func filter(_ isIncluded: ((key: String, value: String)) -> Bool) -> ChangeoverFacts {
        ChangeoverFacts(values.filter(isIncluded))
    }
}

// MARK: typed facts

extension ChangeoverFacts {
    // The follower, wherever the provisioner made it.

    /// The address the follower listens on (`follower.host`).
    public var followerHost: String? {
        get { self["follower.host"] }
        set { self["follower.host"] = newValue }
    }
    /// Its port (`follower.port`).
    public var followerPort: Int? {
        get { integer("follower.port") }
        set { self["follower.port"] = newValue.map(String.init) }
    }
    /// Its data directory, when it is a directory on a host (`follower.dataDirectory`).
    public var followerDataDirectory: String? {
        get { self["follower.dataDirectory"] }
        set { self["follower.dataDirectory"] = newValue }
    }
    /// Its container, when the docker provisioner made it (`follower.container`).
    public var followerContainer: String? {
        get { self["follower.container"] }
        set { self["follower.container"] = newValue }
    }
    /// The host it runs on, when the ssh provisioner made it (`follower.sshHost`).
    public var followerSSHHost: String? {
        get { self["follower.sshHost"] }
        set { self["follower.sshHost"] = newValue }
    }
    /// The Postgres follower's replay position once it passed the old primary's (`follower.replayLSN`).
    public var followerReplayLSN: String? {
        get { self["follower.replayLSN"] }
        set { self["follower.replayLSN"] = newValue }
    }
    /// The Redis follower's offset once it reached the old primary's (`follower.offset`).
    public var followerOffset: Int64? {
        get { integer("follower.offset") }
        set { self["follower.offset"] = newValue.map(String.init) }
    }
    /// ACL users carried to the Redis follower (`follower.aclUsers`).
    public var followerACLUsers: Int? {
        get { integer("follower.aclUsers") }
        set { self["follower.aclUsers"] = newValue.map(String.init) }
    }

    // The old primary.

    /// Its address as the config gave it, password left out (`old.address`).
    public var oldAddress: String? {
        get { self["old.address"] }
        set { self["old.address"] = newValue }
    }
    /// The Postgres primary's data directory (`old.dataDirectory`).
    public var oldDataDirectory: String? {
        get { self["old.dataDirectory"] }
        set { self["old.dataDirectory"] = newValue }
    }
    /// The Debian cluster it is, `15/main` (`old.cluster`).
    public var oldCluster: String? {
        get { self["old.cluster"] }
        set { self["old.cluster"] = newValue }
    }
    /// The Redis primary's configuration file (`old.configFile`).
    public var oldConfigFile: String? {
        get { self["old.configFile"] }
        set { self["old.configFile"] = newValue }
    }
    /// The Redis primary's process (`old.pid`).
    public var oldPID: Int32? {
        get { integer("old.pid") }
        set { self["old.pid"] = newValue.map(String.init) }
    }
    /// Its container, when it runs in one (`old.container`).
    public var oldContainer: String? {
        get { self["old.container"] }
        set { self["old.container"] = newValue }
    }
    /// The ssh host it runs on (`old.host`).
    public var oldHost: String? {
        get { self["old.host"] }
        set { self["old.host"] = newValue }
    }
    /// What became of its service at boot (`old.service`).
    public var oldService: String? {
        get { self["old.service"] }
        set { self["old.service"] = newValue }
    }
    /// The Redis primary's role after the switchover (`old.role`).
    public var oldRole: String? {
        get { self["old.role"] }
        set { self["old.role"] = newValue }
    }
    /// Whether it was started again by a rollback (`old.restarted`).
    public var oldRestarted: Bool? {
        get { flag("old.restarted") }
        set { self["old.restarted"] = newValue.map(String.init) }
    }
    /// Whether it was retired (`old.retired`).
    public var oldRetired: Bool? {
        get { flag("old.retired") }
        set { self["old.retired"] = newValue.map(String.init) }
    }
    /// When it is retired, in ISO 8601 (`old.retireAt`).
    public var oldRetireAt: Date? {
        get { self["old.retireAt"].flatMap { ISO8601DateFormatter().date(from: $0) } }
        set { self["old.retireAt"] = newValue.map { ISO8601DateFormatter().string(from: $0) } }
    }

    // The new primary.

    public var newHost: String? {
        get { self["new.host"] }
        set { self["new.host"] = newValue }
    }
    public var newPort: Int? {
        get { integer("new.port") }
        set { self["new.port"] = newValue.map(String.init) }
    }
    /// Its address, password left out (`new.address`).
    public var newAddress: String? {
        get { self["new.address"] }
        set { self["new.address"] = newValue }
    }

    // Postgres replication.

    /// The physical replication slot on the old primary (`slot`).
    public var slot: String? {
        get { self["slot"] }
        set { self["slot"] = newValue }
    }
    /// Whether the slot was dropped (`slot.released`).
    public var slotReleased: Bool? {
        get { flag("slot.released") }
        set { self["slot.released"] = newValue.map(String.init) }
    }
    /// The old primary's shutdown checkpoint, `0/3002648` (`finalLSN`).
    public var finalLSN: String? {
        get { self["finalLSN"] }
        set { self["finalLSN"] = newValue }
    }

    // Redis replication.

    /// The primary's `master_repl_offset` under the pause (`finalOffset`).
    public var finalOffset: Int64? {
        get { integer("finalOffset") }
        set { self["finalOffset"] = newValue.map(String.init) }
    }
    /// Whether the old primary's writes are paused (`paused`).
    public var paused: Bool? {
        get { flag("paused") }
        set { self["paused"] = newValue.map(String.init) }
    }
    /// When the pause ends, in milliseconds since 1970 (`pausedUntil`).
    public var pausedUntilMilliseconds: Int64? {
        get { integer("pausedUntil") }
        set { self["pausedUntil"] = newValue.map(String.init) }
    }

    // Figures.

    /// The final position in words, either engine's: "LSN 0/3002648", "offset 5217" (`final.position`).
    public var finalPosition: String? {
        get { self["final.position"] }
        set { self["final.position"] = newValue }
    }
    /// The follower's last measured lag (`catchUp.lagBytes`).
    public var catchUpLagBytes: Int64? {
        get { integer("catchUp.lagBytes") }
        set { self["catchUp.lagBytes"] = newValue.map(String.init) }
    }
    /// How long clients could not write (`writePause.ms`, one decimal).
    public var writePauseMilliseconds: Double? {
        get { number("writePause.ms") }
        set { self["writePause.ms"] = newValue.map(Self.milliseconds) }
    }
    /// The CHECKPOINT before the fence (`checkpoint.ms`).
    public var checkpointMilliseconds: Double? {
        get { number("checkpoint.ms") }
        set { self["checkpoint.ms"] = newValue.map(Self.milliseconds) }
    }
    /// Until the follower had received that checkpoint (`checkpoint.receivedMs`).
    public var checkpointReceivedMilliseconds: Double? {
        get { number("checkpoint.receivedMs") }
        set { self["checkpoint.receivedMs"] = newValue.map(Self.milliseconds) }
    }
    /// The old primary's stop (`stop.ms`).
    public var stopMilliseconds: Double? {
        get { number("stop.ms") }
        set { self["stop.ms"] = newValue.map(Self.milliseconds) }
    }
    /// Whether the stop was made ready before the pause (`stop.armed`).
    public var stopArmed: Bool? {
        get { flag("stop.armed") }
        set { self["stop.armed"] = newValue.map(String.init) }
    }
    /// Reading the old primary's control data (`controldata.ms`).
    public var controlDataMilliseconds: Double? {
        get { number("controldata.ms") }
        set { self["controldata.ms"] = newValue.map(Self.milliseconds) }
    }
    /// The promotion (`promote.ms`).
    public var promoteMilliseconds: Double? {
        get { number("promote.ms") }
        set { self["promote.ms"] = newValue.map(Self.milliseconds) }
    }
    /// The base backup's size (`basebackup.bytes`).
    public var basebackupBytes: Int64? {
        get { integer("basebackup.bytes") }
        set { self["basebackup.bytes"] = newValue.map(String.init) }
    }
    /// The base backup's duration (`basebackup.seconds`, two decimals).
    public var basebackupSeconds: Double? {
        get { number("basebackup.seconds") }
        set { self["basebackup.seconds"] = newValue.map { String(format: "%.2f", $0) } }
    }
    /// The transaction the verifying write ran in, Postgres (`verify.xid`).
    public var verifyXID: String? {
        get { self["verify.xid"] }
        set { self["verify.xid"] = newValue }
    }
    /// The key the verifying write set, Redis (`verify.key`).
    public var verifyKey: String? {
        get { self["verify.key"] }
        set { self["verify.key"] = newValue }
    }

    // Scheduling.

    /// Why the switchover ran when it did: "now", "open" (a window), "forced" (`window.decision`).
    public var windowDecision: String? {
        get { self["window.decision"] }
        set { self["window.decision"] = newValue }
    }
    /// The window the switchover ran in (`window.start`, `window.end`: ISO 8601 in UTC, to the
    /// second); nil unless both are there.
    public var window: WindowOpening? {
        get {
            let iso = ISO8601DateFormatter()
            guard let start = self["window.start"].flatMap(iso.date(from:)),
                let end = self["window.end"].flatMap(iso.date(from:))
            else { return nil }
            return WindowOpening(start: start, end: end)
        }
        set {
            self["window.start"] = newValue.map { ScheduleText.iso($0.start) }
            self["window.end"] = newValue.map { ScheduleText.iso($0.end) }
        }
    }
    /// Why the switchover went ahead outside a window (`forced.reason`).
    public var forcedReason: String? {
        get { self["forced.reason"] }
        set { self["forced.reason"] = newValue }
    }
    /// The campaign that scheduled the changeover (`campaign`).
    public var campaign: String? {
        get { self["campaign"] }
        set { self["campaign"] = newValue }
    }

    /// Milliseconds as the facts have always held them: one decimal.
    static func milliseconds(_ value: Double) -> String { String(format: "%.1f", value) }

    private func integer<T: FixedWidthInteger>(_ key: String) -> T? { self[key].flatMap { T($0) } }
    private func number(_ key: String) -> Double? { self[key].flatMap { Double($0) } }
    private func flag(_ key: String) -> Bool? { self[key].flatMap { Bool($0) } }
}
