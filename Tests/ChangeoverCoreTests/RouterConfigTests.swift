import PostgresClient
import Testing

@testable import ChangeoverCore

@Suite struct RouterConfigTests {
    static func config(router: String) -> String {
        """
        provisioner: {root: /var/lib/changeover/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=10.0.0.5 port=5432 user=postgres"
            router:
        \(router)
        """
    }

    @Test func parsesAPgBouncerRouter() throws {
        let text = Self.config(
            router: """
                      kind: pgbouncer
                      admin: "host=127.0.0.1 port=6432 user=pgbouncer"
                      password: {env: PGBOUNCER_PASSWORD}
                      database: orders_pool
                      include: pgbouncer/databases.ini
                      timeout: 5s
                """)
        let router = try FleetConfig.parse(text, relativeTo: "/etc/changeover").database("orders").router
        #expect(router.kind == .pgbouncer)
        #expect(router.admin?.host == "127.0.0.1")
        #expect(router.admin?.port == 6432)
        #expect(router.admin?.database == "pgbouncer")
        #expect(router.password == .environment("PGBOUNCER_PASSWORD"))
        #expect(router.database == "orders_pool")
        #expect(router.include == "/etc/changeover/pgbouncer/databases.ini")
        #expect(router.timeout == .seconds(5))
    }

    @Test func parsesAnHAProxyRouter() throws {
        let text = Self.config(
            router: """
                      kind: haproxy
                      socket: /run/haproxy/admin.sock
                      backend: pg
                      server: primary
                """)
        let router = try FleetConfig.parse(text).database("orders").router
        #expect(router.kind == .haproxy)
        #expect(router.socket == "/run/haproxy/admin.sock")
        #expect(router.backend == "pg")
        #expect(router.server == "primary")
        #expect(router.timeout == .seconds(30))
    }

    @Test(arguments: [
        ("kind: pgbouncer\n      include: /x.ini", "router.admin"),
        ("kind: pgbouncer\n      admin: \"host=127.0.0.1 port=6432\"", "router.include"),
        ("kind: haproxy\n      backend: pg\n      server: primary", "router.socket"),
        ("kind: haproxy\n      socket: /a.sock\n      server: primary", "router.backend"),
        ("kind: haproxy\n      socket: /a.sock\n      backend: pg", "router.server"),
    ])
    func missingKeysAreNamedInOneLine(router: String, key: String) {
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(Self.config(router: "      " + router)) }
        #expect(error?.description.contains("database orders") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains(key) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("\n") == false)
    }

    @Test func adminConninfoMustNotHoldAPasswordAndMustBeTheConsole() {
        let withPassword = Self.config(
            router: """
                      kind: pgbouncer
                      admin: "host=127.0.0.1 port=6432 user=pgbouncer password=hunter2"
                      include: /x.ini
                """)
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(withPassword) }
        #expect(error?.description.contains("router.admin holds a password") == true)
        #expect(error?.description.contains("hunter2") == false)
        let notConsole = withPassword.replacingOccurrences(of: " password=hunter2", with: " dbname=orders")
        let wrong = #expect(throws: ConfigError.self) { try FleetConfig.parse(notConsole) }
        #expect(wrong?.description.contains("dbname=pgbouncer") == true)
    }

    @Test func unknownKindListsTheKnownOnes() {
        let error = #expect(throws: ConfigError.self) {
            try FleetConfig.parse(Self.config(router: "      kind: envoy"))
        }
        #expect(
            error?.description.contains("(known: haproxy, hook, none, pgbouncer)") == true,
            "\(error?.description ?? "")")
    }
}

@Suite struct PgBouncerDatabasesFileTests {
    @Test func repointRewritesOnlyHostAndPortOfTheOneLine() throws {
        var file = PgBouncerDatabasesFile(
            path: "/x.ini",
            text: """
                ; managed by the platform
                [databases]
                billing = host=10.0.0.9 port=5432 dbname=billing
                orders = host=10.0.0.5 port=5432 dbname=orders user=app application_name='orders pool' pool_size=20
                [pgbouncer]
                orders = not a database line

                """)
        try file.point("orders", host: "10.0.0.6", port: 5433)
        #expect(
            file.text == """
                ; managed by the platform
                [databases]
                billing = host=10.0.0.9 port=5432 dbname=billing
                orders = host=10.0.0.6 port=5433 dbname=orders user=app application_name='orders pool' pool_size=20
                [pgbouncer]
                orders = not a database line

                """)
    }

    @Test func aLineWithoutHostOrPortGetsThem() throws {
        var file = PgBouncerDatabasesFile(path: "/x.ini", text: "\"orders\" = dbname=orders\n")
        try file.point("orders", host: "10.0.0.6", port: 5433)
        #expect(file.text == "\"orders\" = host=10.0.0.6 port=5433 dbname=orders\n")
    }

    @Test func aMissingLineIsAnErrorNamingTheDatabase() {
        let file = PgBouncerDatabasesFile(path: "/etc/pgbouncer/databases.ini", text: "[databases]\nbilling = host=a\n")
        let error = #expect(throws: RouterError.self) { try file.line(for: "orders") }
        #expect(error?.description == "pgbouncer's databases file /etc/pgbouncer/databases.ini has no line for orders")
    }
}
