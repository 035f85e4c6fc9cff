import Foundation
import Testing

@testable import ChangeoverCore

/// The config's notify: section, fleet-wide and per database.
@Suite struct NotifyConfigTests {
    static let base = """
        provisioner: {root: /tmp/nodes}
        images:
          pg15: {binDirectory: /usr/lib/postgresql/15/bin}
        databases:
          orders:
            image: pg15
            primary: "host=127.0.0.1 port=5432 user=postgres"
          billing:
            image: pg15
            primary: "host=127.0.0.1 port=5433 user=postgres"
        """

    /// `base` with `orders` given its own notify section.
    static func withOrders(_ section: String) -> String {
        base.replacingOccurrences(
            of: "port=5432 user=postgres\"", with: "port=5432 user=postgres\"\n    notify: \(section)")
    }

    @Test func parsesTheFleetSectionAndItsDefaults() throws {
        let config = try FleetConfig.parse(
            Self.base + """

                notify:
                  command: /usr/local/bin/page-oncall
                  webhook: http://127.0.0.1:9000/hook?token=abc
                  before: [1h, 24h, 30s, 1h]
                """)
        #expect(config.notify.command == "/usr/local/bin/page-oncall")
        #expect(config.notify.webhook == NotifyConfig.Webhook(host: "127.0.0.1", port: 9000, path: "/hook?token=abc"))
        #expect(config.notify.before == [.seconds(86_400), .seconds(3600), .seconds(30)])
        #expect(config.notify.events == Set(NotifyEvent.allCases))
        #expect(config.notify.timeout == .seconds(10))
        // Every database inherits it.
        #expect(try config.database("orders").notify == config.notify)
        #expect(try config.database("billing").notify == config.notify)
    }

    @Test func withoutTheSectionNothingIsSent() throws {
        let config = try FleetConfig.parse(Self.base)
        #expect(!config.notify.hasTarget)
        #expect(NotifyEvent.allCases.allSatisfy { !(try! config.database("orders")).notify.sends($0) })
    }

    @Test func aDatabaseOverridesKeyByKey() throws {
        let config = try FleetConfig.parse(
            Self.withOrders(
                "{webhook: \"http://hooks.internal/orders\", on: [completed, failed], before: [], timeout: 2s}") + """

                    notify: {command: /bin/true, before: [1h], on: [reminder, completed], timeout: 5s}
                    """)
        let orders = try config.database("orders").notify
        #expect(orders.command == "/bin/true")
        #expect(orders.webhook == NotifyConfig.Webhook(host: "hooks.internal", port: 80, path: "/orders"))
        #expect(orders.events == [.completed, .failed])
        #expect(orders.before.isEmpty)
        #expect(orders.timeout == .seconds(2))
        let billing = try config.database("billing").notify
        #expect(billing.command == "/bin/true" && billing.webhook == nil && billing.events == [.reminder, .completed])
    }

    @Test func webhookForms() throws {
        func hook(_ text: String) throws -> NotifyConfig.Webhook {
            try FleetConfig.parse(Self.base + "\nnotify: {webhook: \"\(text)\"}").notify.webhook!
        }
        #expect(try hook("http://127.0.0.1:9000") == .init(host: "127.0.0.1", port: 9000, path: "/"))
        #expect(try hook("HTTP://example.net?x=1") == .init(host: "example.net", port: 80, path: "/?x=1"))
        #expect(try hook("http://[::1]:8080/a/b") == .init(host: "::1", port: 8080, path: "/a/b"))
        #expect(try hook("http://[::1]:8080/a/b").name == "http://[::1]:8080")
    }

    @Test(arguments: [
        ("notify: {command: \"  \"}", "config config, notify.command is empty"),
        ("notify: {webhook: \"https://hooks.example/x\"}", "notify.webhook: https is not supported"),
        ("notify: {webhook: \"ftp://x\"}", "notify.webhook: \"ftp://x\" is not an http:// URL"),
        ("notify: {webhook: \"http://user:hunter2@host/x\"}", "notify.webhook: the URL holds user info"),
        ("notify: {webhook: \"http://host:0/x\"}", "has a bad port"),
        ("notify: {webhook: \"http://host:99999\"}", "has a bad port"),
        ("notify: {webhook: \"http://:80/x\"}", "has no usable host"),
        ("notify: {webhook: \"http://host/a b\"}", "the URL's path has spaces"),
        ("notify: {webhook: \"http://host/a\\r\\nX-Evil: 1\"}", "the URL's path has spaces, control"),
        ("notify: {before: [1h, soon]}", "notify.before[1]: \"soon\" is not a duration"),
        ("notify: {before: [0s]}", "notify.before[0]: must be more than 0"),
        ("notify: {before: 1h}", "wrong type at notify.before"),
        (
            "notify: {on: [completed, finished]}",
            "notify.on: unknown event \"finished\" (known: scheduled, reminder, forced, completed, failed, aborted)"
        ),
        ("notify: {before: [1h], on: [completed]}", "asks for reminders but notify.on leaves out reminder"),
        ("notify: {timeout: 50ms}", "notify.timeout: \"50ms\" is out of range (100ms…10m)"),
        ("notify: {timeout: 1h}", "is out of range"),
        ("notify: {timeout: later}", "notify.timeout: \"later\" is not a duration"),
    ])
    func badFleetSectionsAreNamedInOneLine(_ section: String, _ message: String) {
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(Self.base + "\n" + section) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("\n") == false)
        #expect(error?.description.contains("hunter2") == false)
    }

    @Test(arguments: [
        ("{before: [2h, -1s]}", "config config, database orders, notify.before[1]"),
        ("{webhook: \"https://x\"}", "config config, database orders, notify.webhook: https is not supported"),
        ("{on: [nope]}", "config config, database orders, notify.on: unknown event"),
    ])
    func badDatabaseSectionsNameTheDatabase(_ section: String, _ message: String) {
        let error = #expect(throws: ConfigError.self) { try FleetConfig.parse(Self.withOrders(section)) }
        #expect(error?.description.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func anEmptyEventListTurnsADatabaseOff() throws {
        let config = try FleetConfig.parse(
            Self.withOrders("{on: [], before: []}") + "\nnotify: {command: /bin/true, before: [1h]}")
        #expect(NotifyEvent.allCases.allSatisfy { !(try! config.database("orders")).notify.sends($0) })
        #expect(try config.database("billing").notify.sends(.reminder))
    }

    @Test func anInheritedReminderListMustStillBeSent() {
        let error = #expect(throws: ConfigError.self) {
            try FleetConfig.parse(Self.withOrders("{on: [completed]}") + "\nnotify: {command: /bin/true, before: [1h]}")
        }
        #expect(
            error?.description.contains(
                "database orders, notify.before asks for reminders but notify.on leaves out reminder") == true,
            "\(error?.description ?? "")")
    }

    @Test func tooManyRemindersAreRefused() {
        let list = (1...17).map { "\($0)h" }.joined(separator: ", ")
        let error = #expect(throws: ConfigError.self) {
            try FleetConfig.parse(Self.base + "\nnotify: {before: [\(list)]}")
        }
        #expect(
            error?.description.contains("notify.before: 17 reminders; at most 16") == true,
            "\(error?.description ?? "")")
    }
}
