import Foundation

/// The result of checking an audit log's hash chain and tail.
public struct AuditVerification: Sendable, Equatable {
    /// Records that verified before the first problem.
    public var records: Int
    /// Hash of the last record that verified (nil if none did).
    public var lastHash: String?
    /// The first problem found; nil means the chain is intact.
    public var problem: AuditProblem?
    public var isIntact: Bool { problem == nil }

    public init(records: Int, lastHash: String?, problem: AuditProblem?) {
        self.records = records
        self.lastHash = lastHash
        self.problem = problem
    }
}

/// The first problem found while verifying an audit log.
public struct AuditProblem: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case unreadable, malformed, hashMismatch, chainBroken, gap, truncated, headMismatch
    }
    public var kind: Kind
    /// 1-based number of the first bad record (line number / expected seq).
    public var record: Int
    /// One line, e.g. "record 7 was altered: its hash does not match its contents".
    public var description: String

    public init(kind: Kind, record: Int, description: String) {
        self.kind = kind
        self.record = record
        self.description = description
    }
}

extension AuditLog {
    /// Checks every record's hash against its raw bytes, the `prev` chain, the `seq`
    /// numbering, and the tail against the `<path>.head` file. Never throws: an
    /// unreadable log is reported as an `.unreadable` problem.
    public static func verify(path: String) -> AuditVerification {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            return failed(0, nil, .unreadable, 1, "no audit log at \(path)")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            return failed(0, nil, .unreadable, 1, "cannot read audit log \(path)")
        }
        let bytes = [UInt8](data)
        let (lines, partialLast) = AuditLineFormat.splitLines(bytes)

        var count = 0
        var lastHash: String?
        var previousHash = AuditRecord.genesisHash  // hash the next record must name as prev
        var hashes = [AuditRecord.genesisHash]  // hashes[n] is record n's hash

        for (index, range) in lines.enumerated() {
            let n = index + 1
            if partialLast && index == lines.count - 1 {
                return failed(
                    count, lastHash, .malformed, n,
                    "record \(n) is incomplete: the log ends in the middle of it")
            }
            let record: AuditRecord
            switch AuditLineFormat.check(bytes[range]) {
            case .malformed(let reason):
                return failed(count, lastHash, .malformed, n, "record \(n) is malformed: \(reason)")
            case .hashMismatch:
                return failed(
                    count, lastHash, .hashMismatch, n,
                    "record \(n) was altered: its hash does not match its contents")
            case .valid(let r):
                record = r
            }
            if record.seq != n {
                // Is the expected record further down (lines reordered) or really gone?
                let laterSeqs = lines[(index + 1)...].lazy.compactMap { range -> Int? in
                    if case .valid(let later) = AuditLineFormat.check(bytes[range]) { return later.seq }
                    return nil
                }
                if record.seq > n && !laterSeqs.contains(n) {
                    let follows =
                        n == 1
                        ? "the log starts with the record numbered \(record.seq)"
                        : "the record numbered \(record.seq) follows record \(n - 1)"
                    return failed(count, lastHash, .gap, n, "record \(n) is missing (\(follows))")
                }
                return failed(
                    count, lastHash, .chainBroken, n,
                    "record \(n) is out of order: line \(n) holds the record numbered \(record.seq)")
            }
            if record.prev != previousHash {
                let detail =
                    n == 1
                    ? "its prev hash is not 64 zeros"
                    : "its prev hash does not match record \(n - 1)"
                return failed(
                    count, lastHash, .chainBroken, n,
                    "record \(n) does not continue the chain: \(detail)")
            }
            hashes.append(record.hash)
            previousHash = record.hash
            lastHash = record.hash
            count = n
        }

        let headPath = AuditHead.path(forLog: path)
        switch AuditHead.read(logPath: path) {
        case .missing:
            if count == 0 { return AuditVerification(records: 0, lastHash: nil, problem: nil) }
            return failed(
                count, lastHash, .headMismatch, count,
                "the head file \(headPath) is missing, so records removed after record \(count) would go unnoticed")
        case .unreadable(let reason):
            return failed(count, lastHash, .headMismatch, max(count, 1), reason)
        case .head(let head):
            if head.records > count {
                let ends = count == 0 ? "the log is empty" : "the log ends at record \(count)"
                return failed(
                    count, lastHash, .truncated, count + 1,
                    "\(ends) but \(head.records) were written: record \(count + 1) onward is missing")
            }
            if head.records == count {
                if head.hash == (lastHash ?? AuditRecord.genesisHash) {
                    return AuditVerification(records: count, lastHash: lastHash, problem: nil)
                }
                let what =
                    count == 0
                    ? "the log is empty but its head file names a record hash"
                    : "record \(count) is not the last record that was written: its hash differs from the head file"
                return failed(count, lastHash, .headMismatch, max(count, 1), what)
            }
            // head.records < count. A head that names an earlier record of this chain is the
            // trace of an append interrupted between the fsync of the log and the head update
            // (one append may write several records). A cut tail always leaves the head ahead.
            if head.records >= 0 && head.hash == hashes[head.records] {
                return AuditVerification(records: count, lastHash: lastHash, problem: nil)
            }
            return failed(
                count, lastHash, .headMismatch, head.records + 1,
                "the head file says \(head.records) records were written but the log has \(count): record \(head.records + 1) onward does not match the head"
            )
        }
    }

    private static func failed(
        _ records: Int, _ lastHash: String?, _ kind: AuditProblem.Kind,
        _ record: Int, _ description: String
    ) -> AuditVerification {
        AuditVerification(
            records: records, lastHash: lastHash,
            problem: AuditProblem(kind: kind, record: record, description: description))
    }
}
