import Foundation

/// The head of `global/pg_control`, whose first fields have kept their place since Postgres
/// 9.3: system identifier (u64), pg_control_version (u32), catalog version (u32), state (i32),
/// modification time (i64, 8-aligned), latest checkpoint location (u64). The CRC-32C over the
/// struct ends it; its offset is known per pg_control_version (1300: Postgres 13 to 16).
enum ControlFile {
    static let crcOffset: [UInt32: Int] = [1300: 288]
    static let states = [
        "starting up", "shut down", "shut down in recovery", "shutting down",
        "in crash recovery", "in archive recovery", "in production",
    ]

    static func read(_ path: String) -> [String: String]? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 512) else { return nil }
        return parse([UInt8](data))
    }

    static func parse(_ bytes: [UInt8]) -> [String: String]? {
        guard bytes.count >= 40 else { return nil }
        func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T.zero) { $0 << 8 | T($1) }
        }
        let version = integer(8, UInt32.self)
        guard let crcAt = crcOffset[version], bytes.count >= crcAt + 4,
            crc32c(bytes[..<crcAt]) == integer(crcAt, UInt32.self)
        else { return nil }
        let state = Int(integer(16, Int32.self))
        let checkpoint = integer(32, UInt64.self)
        guard states.indices.contains(state) else { return nil }
        return [
            "pg_control version number": String(version),
            "Database cluster state": states[state],
            "Latest checkpoint location": String(checkpoint >> 32, radix: 16, uppercase: true) + "/"
                + String(checkpoint & 0xFFFF_FFFF, radix: 16, uppercase: true),
        ]
    }

    /// CRC-32C (Castagnoli), as Postgres computes it.
    static func crc32c(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8)
        }
        return crc ^ 0xFFFF_FFFF
    }

    private static let table: [UInt32] = (0..<256).map { index in
        (0..<8).reduce(UInt32(index)) { crc, _ in crc & 1 == 1 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
    }
}
