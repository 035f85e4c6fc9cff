import CLibPQ

/// One result of a statement, copied out of the `PGresult` (text format).
public struct PostgresResult: Sendable {
    public var columns: [String]
    public var rows: [[String?]]
    /// `PQcmdStatus`, e.g. `INSERT 0 1`, `SELECT 2`.
    public var commandTag: String
    /// `PQcmdTuples` parsed; `nil` for commands that report no row count.
    public var affectedRows: Int?

    public init(columns: [String], rows: [[String?]], commandTag: String, affectedRows: Int?) {
        self.columns = columns
        self.rows = rows
        self.commandTag = commandTag
        self.affectedRows = affectedRows
    }

    /// The value in `row` under the column named `column`; `nil` for SQL NULL, an unknown column
    /// or a row out of range.
    public func value(_ row: Int, _ column: String) -> String? {
        guard rows.indices.contains(row), let index = columns.firstIndex(of: column) else {
            return nil
        }
        return rows[row][index]
    }

    /// `rows[0][0]` if present.
    public var scalar: String? {
        rows.first?.first ?? nil
    }

    /// Copies a successful result. The caller owns and frees `result`.
    init(copying result: OpaquePointer) {
        let columnCount = PQnfields(result)
        let rowCount = PQntuples(result)
        columns = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        rows = (0..<rowCount).map { row in
            (0..<columnCount).map { column in
                PQgetisnull(result, row, column) == 1
                    ? nil : String(cString: PQgetvalue(result, row, column))
            }
        }
        commandTag = String(cString: PQcmdStatus(result))
        affectedRows = Int(String(cString: PQcmdTuples(result)))
    }
}
