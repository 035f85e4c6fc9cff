import CLibPQ

/// The funnel: the only code that reads libpq's error strings and turns them into `PostgresError`.
extension PostgresError {
    /// An error from a failed connection attempt (`PQconnectPoll` failed or the handle went bad).
    ///
    /// libpq exposes no SQLSTATE while connecting, so well-known server messages are recognised by
    /// their text. `secret` (the password) is scrubbed from the message should it ever appear.
    static func connecting(_ conn: OpaquePointer?, endpoint: String, secret: String?) -> PostgresError {
        var message = oneLine(conn.flatMap { PQerrorMessage($0) }.map { String(cString: $0) } ?? "")
        if message.isEmpty {
            message = "could not connect"
        }
        if let secret, secret.count >= 3 {
            message = message.replacing(secret, with: "********")
        }
        let lowered = message.lowercased()
        let sqlState = knownConnectSQLStates.first { lowered.contains($0.phrase) }?.sqlState
        let isAuth =
            sqlState == "28P01" || sqlState == "28000"
            || lowered.contains("authentication") || lowered.contains("fe_sendauth")
            || lowered.contains("password")
        return PostgresError(
            code: isAuth ? .authenticationFailed : .connectionFailed,
            message: message,
            sqlState: sqlState,
            endpoint: endpoint
        )
    }

    /// An error reported on the connection itself (`PQsendQuery*` refused, input could not be
    /// read). `code` is overridden to `.connectionClosed` when the handle is no longer usable.
    static func connection(_ conn: OpaquePointer, code: Code, endpoint: String) -> PostgresError {
        let message = oneLine(String(cString: PQerrorMessage(conn)))
        let lost = PQstatus(conn) != CONNECTION_OK
        return PostgresError(
            code: lost ? .connectionClosed : code,
            message: message.isEmpty ? "connection to the server was lost" : message,
            endpoint: endpoint
        )
    }

    /// An error result (`PGRES_FATAL_ERROR`, `PGRES_BAD_RESPONSE`, ...). The caller owns and
    /// frees `result`.
    static func result(_ result: OpaquePointer, endpoint: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let value = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            let text = String(cString: value)
            return text.isEmpty ? nil : text
        }
        let primary = field("M") ?? String(cString: PQresultErrorMessage(result))
        let status = String(cString: PQresStatus(PQresultStatus(result)))
        let message = oneLine(primary)
        return PostgresError(
            code: .queryFailed,
            message: message.isEmpty ? "server returned \(status)" : message,
            sqlState: field("C"),
            endpoint: endpoint
        )
    }

    /// Server messages seen while connecting, with the SQLSTATE the server sent along.
    private static let knownConnectSQLStates: [(phrase: String, sqlState: String)] = [
        ("password authentication failed", "28P01"),
        ("no pg_hba.conf entry", "28000"),
        ("pg_hba.conf rejects", "28000"),
        ("role \"", "28000"),  // role "x" does not exist / is not permitted to log in
        ("database \"", "3D000"),  // database "x" does not exist
        ("the database system is starting up", "57P03"),
        ("the database system is shutting down", "57P03"),
        ("the database system is in recovery mode", "57P03"),
        ("too many clients", "53300"),
        ("remaining connection slots are reserved", "53300"),
    ]

    /// libpq's messages: `connection to server at "h", port p failed: FATAL:  text\n...`.
    /// Keeps the first line, without the connection prefix and the severity.
    static func oneLine(_ raw: String) -> String {
        var line = Substring(
            raw.split(whereSeparator: \.isNewline).first { !$0.allSatisfy(\.isWhitespace) } ?? "")
        if line.hasPrefix("connection to server"), let range = line.firstRange(of: " failed: ") {
            line = line[range.upperBound...]
        }
        for severity in ["FATAL:", "ERROR:", "PANIC:"] where line.hasPrefix(severity) {
            line = line.dropFirst(severity.count)
        }
        return String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
