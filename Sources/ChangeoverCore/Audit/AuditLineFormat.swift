import Crypto
import Foundation

/// Encoding and checking of single audit log lines.
///
/// A line is the record body (sorted keys, no `hash`) with
/// `,"hash":"<64 hex>"` spliced in before the final `}`, then `\n`.
enum AuditLineFormat {
    static let hashKeyPrefix = Array(#","hash":""#.utf8)  // 9 bytes
    static let hashSuffixTail = Array(#""}"#.utf8)  // 2 bytes
    /// Length of `,"hash":"<64 hex>"}`.
    static let suffixLength = hashKeyPrefix.count + 64 + hashSuffixTail.count
    static let newline = UInt8(ascii: "\n")

    enum LineCheck {
        case valid(AuditRecord)
        case malformed(String)
        case hashMismatch
    }

    static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func sha256Hex(_ bytes: some Sequence<UInt8>) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Encodes the body, hashes it and returns the full line (with trailing newline) and hash.
    static func encodeLine(_ body: AuditRecordBody) throws -> (line: [UInt8], hash: String) {
        let bodyBytes: [UInt8]
        do {
            bodyBytes = Array(try makeEncoder().encode(body))
        } catch {
            throw AuditError("cannot encode audit record \(body.seq): \(error)")
        }
        guard bodyBytes.count >= 2, bodyBytes.first == UInt8(ascii: "{"), bodyBytes.last == UInt8(ascii: "}") else {
            throw AuditError("cannot encode audit record \(body.seq): the encoder did not produce a JSON object")
        }
        let hash = sha256Hex(bodyBytes)
        var line = [UInt8]()
        line.reserveCapacity(bodyBytes.count + suffixLength + 1)
        line.append(contentsOf: bodyBytes.dropLast())
        line.append(contentsOf: hashKeyPrefix)
        line.append(contentsOf: Array(hash.utf8))
        line.append(contentsOf: hashSuffixTail)
        line.append(newline)
        return (line, hash)
    }

    /// Checks one raw line (without its newline): recovers the exact body bytes by
    /// removing the hash suffix, recomputes the hash and decodes the record.
    static func check(_ rawLine: some Collection<UInt8>) -> LineCheck {
        let line = Array(rawLine)
        guard !line.isEmpty else { return .malformed("the line is empty") }
        guard line.count > suffixLength + 1, line.first == UInt8(ascii: "{") else {
            return .malformed("it is not a complete audit record")
        }
        let suffixStart = line.count - suffixLength
        let hashStart = suffixStart + hashKeyPrefix.count
        guard Array(line[suffixStart..<hashStart]) == hashKeyPrefix,
            Array(line[(hashStart + 64)...]) == hashSuffixTail
        else {
            return .malformed("it does not end with a \"hash\" field")
        }
        let hashBytes = line[hashStart..<(hashStart + 64)]
        guard hashBytes.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }) else {
            return .malformed("its hash is not 64 lowercase hex digits")
        }
        let storedHash = String(decoding: hashBytes, as: UTF8.self)
        let record: AuditRecord
        do {
            record = try JSONDecoder().decode(AuditRecord.self, from: Data(line))
        } catch {
            return .malformed("it is not valid audit JSON")
        }
        guard record.hash == storedHash else {
            return .malformed("it has more than one \"hash\" field")
        }
        var body = Array(line[..<suffixStart])
        body.append(UInt8(ascii: "}"))
        guard sha256Hex(body) == storedHash else { return .hashMismatch }
        guard record.version == AuditRecord.currentVersion else {
            return .malformed("it has unsupported format version \(record.version)")
        }
        return .valid(record)
    }

    /// Splits file contents into lines. `partialLast` is true when the data does not
    /// end with a newline (the last line was cut off).
    static func splitLines(_ data: [UInt8]) -> (lines: [Range<Int>], partialLast: Bool) {
        var lines: [Range<Int>] = []
        var start = 0
        for i in data.indices where data[i] == newline {
            lines.append(start..<i)
            start = i + 1
        }
        if start < data.count {
            lines.append(start..<data.count)
            return (lines, true)
        }
        return (lines, false)
    }
}

/// The sidecar `<log>.head` file: how many records were written and the last hash.
struct AuditHead: Codable, Equatable {
    var records: Int
    var hash: String

    static func path(forLog path: String) -> String { path + ".head" }

    enum ReadResult {
        case missing
        case unreadable(String)
        case head(AuditHead)
    }

    static func read(logPath: String) -> ReadResult {
        let headPath = path(forLog: logPath)
        guard FileManager.default.fileExists(atPath: headPath) else { return .missing }
        guard let data = FileManager.default.contents(atPath: headPath) else {
            return .unreadable("the head file \(headPath) cannot be read")
        }
        guard let head = try? JSONDecoder().decode(AuditHead.self, from: data), head.records >= 0 else {
            return .unreadable("the head file \(headPath) is malformed")
        }
        return .head(head)
    }
}
