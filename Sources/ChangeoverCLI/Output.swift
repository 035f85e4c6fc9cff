import ChangeoverCore
import Foundation

package enum Output {
    package static let isTerminal = isatty(STDOUT_FILENO) == 1

    /// Each line of `message` (a config error lists its problems one a line) as an error line.
    package static func error(_ message: String) {
        let lines = message.split(whereSeparator: \.isNewline).map { "changeover: error: \($0)\n" }
        FileHandle.standardError.write(Data((lines.isEmpty ? "changeover: error: \n" : lines.joined()).utf8))
    }

    package static func warning(_ message: String) {
        FileHandle.standardError.write(Data("changeover: warning: \(message)\n".utf8))
    }

    package static func line(_ text: String = "") {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    package static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    package static func ms(_ value: Double) -> String {
        value >= 10_000 ? String(format: "%.1f s", value / 1000) : String(format: "%.1f ms", value)
    }
}

extension Output {
    /// Rows under a header, each column as wide as its widest cell, two spaces apart; the last
    /// column is not padded.
    package static func table(_ header: [String], _ rows: [[String]]) {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        for cells in all {
            let padded = cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            line(padded.joined(separator: "  "))
        }
    }

    /// `host:port` of a primary's address, or the address as it is when it does not parse.
    package static func hostPort(_ address: String, engine: DatabaseConfig.EngineKind) -> String {
        guard let primary = try? DatabasePrimary.parse(address, engine: engine) else { return address }
        return primary.host.contains(":") ? "[\(primary.host)]:\(primary.port)" : "\(primary.host):\(primary.port)"
    }
}
