import Foundation

/// One line of the audit log.
///
/// On disk a record is a single JSON line. The *body* is the record without the
/// `hash` key, encoded with sorted keys; `hash` is the hex SHA-256 of exactly those
/// body bytes and is spliced in as the last key: `{…body…,"hash":"<64 hex>"}\n`.
/// `time` is always encoded as an ISO-8601 UTC string with milliseconds
/// ("2026-11-29T04:30:00.123Z"), whatever the encoder's date strategy.
public struct AuditRecord: Codable, Sendable, Equatable {
    public var version: Int
    public var seq: Int
    public var time: Date
    public var actor: String
    public var changeover: String
    public var database: String
    public var step: String
    public var outcome: String
    public var message: String?
    public var facts: [String: String]
    public var prev: String
    public var hash: String

    /// The format version written by this code.
    public static let currentVersion = 1
    /// `prev` of the first record in a log: 64 zeros.
    public static let genesisHash = String(repeating: "0", count: 64)

    public init(
        version: Int = AuditRecord.currentVersion,
        seq: Int,
        time: Date,
        actor: String,
        changeover: String,
        database: String,
        step: String,
        outcome: String,
        message: String? = nil,
        facts: [String: String] = [:],
        prev: String,
        hash: String
    ) {
        self.version = version
        self.seq = seq
        self.time = time
        self.actor = actor
        self.changeover = changeover
        self.database = database
        self.step = step
        self.outcome = outcome
        self.message = message
        self.facts = facts
        self.prev = prev
        self.hash = hash
    }

    enum CodingKeys: String, CodingKey {
        case version, seq, time, actor, changeover, database, step, outcome, message, facts, prev, hash
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decode(Int.self, forKey: .version)
        seq = try c.decode(Int.self, forKey: .seq)
        let timeText = try c.decode(String.self, forKey: .time)
        guard let parsed = AuditTime.parse(timeText) else {
            throw DecodingError.dataCorruptedError(
                forKey: .time, in: c,
                debugDescription: "not an ISO-8601 UTC time: \(timeText)")
        }
        time = parsed
        actor = try c.decode(String.self, forKey: .actor)
        changeover = try c.decode(String.self, forKey: .changeover)
        database = try c.decode(String.self, forKey: .database)
        step = try c.decode(String.self, forKey: .step)
        outcome = try c.decode(String.self, forKey: .outcome)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        facts = try c.decodeIfPresent([String: String].self, forKey: .facts) ?? [:]
        prev = try c.decode(String.self, forKey: .prev)
        hash = try c.decode(String.self, forKey: .hash)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(seq, forKey: .seq)
        try c.encode(AuditTime.format(time), forKey: .time)
        try c.encode(actor, forKey: .actor)
        try c.encode(changeover, forKey: .changeover)
        try c.encode(database, forKey: .database)
        try c.encode(step, forKey: .step)
        try c.encode(outcome, forKey: .outcome)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encode(facts, forKey: .facts)
        try c.encode(prev, forKey: .prev)
        try c.encode(hash, forKey: .hash)
    }
}

/// The hashed part of a record: everything except `hash`.
struct AuditRecordBody: Encodable {
    var version: Int
    var seq: Int
    var time: String
    var actor: String
    var changeover: String
    var database: String
    var step: String
    var outcome: String
    var message: String?
    var facts: [String: String]
    var prev: String

    enum CodingKeys: String, CodingKey {
        case version, seq, time, actor, changeover, database, step, outcome, message, facts, prev
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(seq, forKey: .seq)
        try c.encode(time, forKey: .time)
        try c.encode(actor, forKey: .actor)
        try c.encode(changeover, forKey: .changeover)
        try c.encode(database, forKey: .database)
        try c.encode(step, forKey: .step)
        try c.encode(outcome, forKey: .outcome)
        try c.encodeIfPresent(message, forKey: .message)
        try c.encode(facts, forKey: .facts)
        try c.encode(prev, forKey: .prev)
    }
}

/// ISO-8601 UTC timestamps with millisecond precision, formatted without
/// locale, calendar or time-zone machinery so the bytes are stable.
enum AuditTime {
    /// "2026-11-29T04:30:00.123Z", rounded to the nearest millisecond.
    static func format(_ date: Date) -> String {
        let totalMillis = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (days, msOfDay) = floorDivMod(totalMillis, 86_400_000)
        let (y, m, d) = civil(fromDays: days)
        let hour = msOfDay / 3_600_000
        let minute = msOfDay / 60_000 % 60
        let second = msOfDay / 1000 % 60
        let milli = msOfDay % 1000
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2) + "T"
            + pad(hour, 2) + ":" + pad(minute, 2) + ":" + pad(second, 2) + "." + pad(milli, 3) + "Z"
    }

    /// Parses "YYYY-MM-DDTHH:MM:SS[.fff…]Z". Returns nil for anything else.
    static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20, b.last == UInt8(ascii: "Z"),
            b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
            b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
            let y = number(b, 0, 4), let mo = number(b, 5, 2), let d = number(b, 8, 2),
            let h = number(b, 11, 2), let mi = number(b, 14, 2), let s = number(b, 17, 2),
            (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var millis: Int64 = 0
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count > 21 else { return nil }
            let fraction = b[20..<(b.count - 1)]
            guard fraction.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
            let digits =
                Array(fraction.prefix(3)) + Array(repeating: UInt8(ascii: "0"), count: max(0, 3 - fraction.count))
            millis = Int64(number(digits, 0, 3) ?? 0)
        } else if b.count != 20 {
            return nil
        }
        let days = daysFromCivil(y, mo, d)
        let total = ((days * 24 + Int64(h)) * 60 + Int64(mi)) * 60 + Int64(s)
        return Date(timeIntervalSince1970: (Double(total * 1000 + millis)) / 1000)
    }

    private static func number(_ b: [UInt8], _ start: Int, _ length: Int) -> Int? {
        var value = 0
        for i in start..<(start + length) {
            guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
            value = value * 10 + Int(b[i] - 48)
        }
        return value
    }

    private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }

    private static func floorDivMod(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        var q = a / b
        var r = a % b
        if r < 0 {
            q -= 1
            r += b
        }
        return (q, r)
    }

    // Howard Hinnant's civil-from-days / days-from-civil algorithms (proleptic Gregorian).
    private static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int64 {
        let y = Int64(m <= 2 ? y0 - 1 : y0)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mm = Int64(m)
        let doy = (153 * (mm > 2 ? mm - 3 : mm + 9) + 2) / 5 + Int64(d) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
