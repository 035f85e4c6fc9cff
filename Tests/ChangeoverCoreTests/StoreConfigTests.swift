import Foundation
import Testing

@testable import ChangeoverCore

/// The config's `store:` section: SQLite by default, Postgres with a conninfo and a password
/// from a secret, errors in one line that never echo the conninfo.
@Suite struct StoreConfigTests {
    func parse(_ store: String) throws -> FleetConfig {
        try FleetConfig.parse(FleetConfigTests.valid + "\n" + store)
    }

    func failure(_ store: String) -> String {
        do {
            _ = try parse(store)
            return "accepted"
        } catch {
            return String(describing: error)
        }
    }

    @Test func theStoreIsSQLiteUnlessTheConfigNamesPostgres() throws {
        let config = try FleetConfig.parse(FleetConfigTests.valid)
        #expect(
            config.store.kind == .sqlite && config.store.leaseTTL == .seconds(15)
                && config.store.renewEvery == .seconds(5))
        #expect(!StateStore(config: config).isShared)
    }

    @Test func aPostgresStoreTakesItsConninfoPasswordAndLeaseTtl() throws {
        let config = try parse(
            #"store: {kind: postgres, conninfo: "host=db1 port=5432 dbname=changeover user=ctl", password: {env: STORE_PW}, leaseTtl: 30s}"#
        )
        #expect(config.store.kind == .postgres)
        #expect(config.store.conninfo?.host == "db1" && config.store.conninfo?.database == "changeover")
        #expect(config.store.password == .environment("STORE_PW"))
        #expect(config.store.leaseTTL == .seconds(30) && config.store.renewEvery == .seconds(10))
        #expect(StateStore(config: config).isShared)
        let short = try parse(
            #"store: {kind: postgres, conninfo: "postgresql://ctl@db1/changeover", passwordEnv: STORE_PW}"#)
        #expect(short.store.password == .environment("STORE_PW"))
    }

    @Test func badStoreSectionsFailInOneLineWithoutTheConninfo() {
        let secret = "hunter2-\(UUID().uuidString)"
        let cases: [(String, String)] = [
            ("store: {kind: mysql}", #"unknown kind "mysql" (known: sqlite, postgres)"#),
            ("store: {kind: postgres}", "kind postgres needs conninfo"),
            (#"store: {kind: postgres, conninfo: "host=db1 password=\#(secret)"}"#, "the conninfo holds a password"),
            (
                #"store: {kind: postgres, conninfo: "postgresql://ctl:\#(secret)@db1/x"}"#,
                "the conninfo holds a password"
            ),
            (#"store: {kind: postgres, conninfo: "host='\#(secret)"}"#, "conninfo is not a libpq conninfo"),
            (
                #"store: {kind: postgres, conninfo: "host=db1", password: {env: A}, passwordEnv: B}"#,
                "give the password once"
            ),
            (#"store: {kind: postgres, conninfo: "host=db1", leaseTtl: 1s}"#, "leaseTtl: between 3s and 1h"),
            (#"store: {conninfo: "host=db1"}"#, "conninfo and password are for kind: postgres"),
        ]
        for (text, expected) in cases {
            let message = failure(text)
            #expect(message.contains(expected), "\(text): \(message)")
            #expect(message.contains("store"), "\(message)")
            #expect(!message.contains(secret) && !message.contains("\n"), "\(message)")
        }
    }
}
