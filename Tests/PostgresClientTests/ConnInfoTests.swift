import PostgresClient
import Testing

@Suite struct ConnInfoTests {
    @Test func parsesKeyValueForm() throws {
        let info = try ConnInfo("host=db1.internal port=6432 user=app dbname=orders password='s3 cr\\'et'")
        #expect(info.host == "db1.internal")
        #expect(info.port == 6432)
        #expect(info.user == "app")
        #expect(info.database == "orders")
        #expect(info["password"] == "s3 cr'et")
        #expect(info.endpoint == "db1.internal:6432")
        #expect(info.parameters.count == 5)
    }

    @Test func parsesURLForm() throws {
        let info = try ConnInfo("postgresql://app:p%40ss@10.0.0.5:5433/orders?sslmode=disable&application_name=co")
        #expect(info.host == "10.0.0.5")
        #expect(info.port == 5433)
        #expect(info.user == "app")
        #expect(info.database == "orders")
        #expect(info["password"] == "p@ss")
        #expect(info["sslmode"] == "disable")
        #expect(info["application_name"] == "co")
        #expect(info.endpoint == "10.0.0.5:5433")
    }

    @Test func endpointUsesDefaultsAndFirstHost() throws {
        #expect(try ConnInfo("dbname=x").endpoint == "localhost:5432")
        #expect(try ConnInfo("host=a,b port=7001,7002").endpoint == "a:7001")
        #expect(try ConnInfo("host=::1").endpoint == "[::1]:5432")
    }

    @Test func descriptionRedactsThePassword() throws {
        let info = try ConnInfo("postgres://app:TopSecret-991@h:1/d")
        #expect(!info.description.contains("TopSecret-991"))
        #expect(info.description.contains("password=********"))
        #expect(info.description.contains("host=h"))
        #expect(!"\(info)".contains("TopSecret-991"))
        #expect(info.connectionString.contains("TopSecret-991"))
    }

    @Test func connectionStringRoundTripsThroughTheParser() throws {
        let nasty = #"p w'x\y\\'z="#
        let info = ConnInfo(parameters: [
            .init(key: "host", value: "127.0.0.1"), .init(key: "user", value: "o'brien"),
            .init(key: "password", value: nasty), .init(key: "application_name", value: ""),
        ])
        let reparsed = try ConnInfo(info.connectionString)
        #expect(reparsed["password"] == nasty)
        #expect(reparsed["user"] == "o'brien")
        #expect(reparsed["application_name"] == "")
        // PQconninfoParse reports parameters in libpq's own keyword order.
        #expect(reparsed.parameters.sorted { $0.key < $1.key } == info.parameters.sorted { $0.key < $1.key })
    }

    @Test func subscriptAndWithEditParameters() throws {
        var info = try ConnInfo("host=h user=u password=p")
        info["password"] = nil
        #expect(info["password"] == nil)
        #expect(!info.connectionString.contains("password"))
        info["port"] = "5555"
        #expect(info.port == 5555)
        let other = info.with("host", "k").with("user", nil)
        #expect(other.host == "k")
        #expect(other.user == nil)
        #expect(info.host == "h")
        #expect(other.parameters.map(\.key) == ["host", "port"])
    }

    @Test func badConninfoIsReportedWithoutThePassword() {
        let error = #expect(throws: PostgresError.self) {
            try ConnInfo("host=h password=Hunter2-secret bogus_key=1")
        }
        #expect(error?.code == .badConninfo)
        #expect(error?.message.contains("bogus_key") == true)
        #expect(error?.description.contains("Hunter2-secret") == false)
        #expect(error?.message.contains("\n") == false)

        let unterminated = #expect(throws: PostgresError.self) {
            try ConnInfo("host='oops password=Hunter2-secret")
        }
        #expect(unterminated?.code == .badConninfo)
        #expect(unterminated?.description.contains("Hunter2-secret") == false)
    }

    @Test func hugeOrPasswordRiddledConninfosAreRefusedQuicklyWithoutQuotingThem() throws {
        // Masking libpq's quote of the input was quadratic in the places a password could hide:
        // 700 kB of "x:/a:b@" ran for minutes before this limit.
        let huge = String(repeating: "x:/a:b@", count: 1_500_000)
        let error = #expect(throws: PostgresError.self) { try ConnInfo(huge) }
        #expect(error?.code == .badConninfo)
        #expect(error?.message == "connection info is 10500000 bytes long; more than 65536 is not a conninfo")
        let clock = ContinuousClock()
        let started = clock.now
        for text in [
            String(repeating: "x:/a:Hunter2@", count: 5_000), String(repeating: "password=Hunter2 '", count: 3_600),
        ] {
            let riddled = #expect(throws: PostgresError.self) { try ConnInfo(text) }
            #expect(riddled?.message == "could not parse connection info")
        }
        #expect(clock.now - started < .seconds(10))
        #expect(try ConnInfo("host=" + String(repeating: "h", count: 65_531)).host?.count == 65_531)
    }

    @Test func errorDescriptionNamesCodeEndpointAndSQLState() {
        let error = PostgresError(
            code: .authenticationFailed, message: #"password authentication failed for user "app""#,
            sqlState: "28P01", endpoint: "127.0.0.1:5432")
        #expect(
            error.description
                == #"authentication failed at 127.0.0.1:5432: password authentication failed for user "app" (SQLSTATE 28P01)"#
        )
    }
}
