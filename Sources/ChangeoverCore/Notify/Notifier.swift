import Foundation

/// Delivers a notice to a database's notify targets, each within `timeout`: the command (run
/// with `/bin/sh -c`, the notice on stdin, CHANGEOVER_EVENT, CHANGEOVER_ID and
/// CHANGEOVER_DATABASE in its environment, without the variables the config reads secrets
/// from) and the webhook (an HTTP/1.1 POST of the notice; any 2xx answer is success). Delivery
/// reports failures and never throws: a notice that cannot be delivered changes nothing else.
public struct Notifier: Sendable {
    public var config: NotifyConfig
    /// Environment variables the command must not inherit (the secrets' `{env: NAME}`).
    public var secretVariables: Set<String>
    /// Secret values that must not leave in a notice, a failure or the command's stderr.
    public var secretValues: [String]

    public init(config: NotifyConfig, secretVariables: Set<String> = [], secretValues: [String] = []) {
        self.config = config
        self.secretVariables = secretVariables
        self.secretValues = secretValues.filter { $0.count >= 3 }
    }

    /// How one target took a notice.
    public struct Delivery: Sendable, Equatable {
        /// "command", "webhook http://127.0.0.1:9000".
        public var target: String
        /// Nil when delivered; else one line, no secret.
        public var failure: String?
    }

    /// Sends `notice` to every configured target at once; one delivery per target.
    public func deliver(_ notice: ChangeoverNotice) async -> [Delivery] {
        var notice = notice
        notice.summary = scrub(notice.summary)
        notice.failure = notice.failure.map(scrub)
        notice.reason = notice.reason.map(scrub)
        let body = notice.json()
        async let command: Delivery? =
            config.command == nil ? nil : await run(config.command!, notice: notice, body: body)
        async let webhook: Delivery? =
            config.webhook == nil ? nil : await post(config.webhook!, notice: notice, body: body)
        return [await command, await webhook].compactMap { $0 }
    }

    private func run(_ command: String, notice: ChangeoverNotice, body: [UInt8]) async -> Delivery {
        let environment = [
            "CHANGEOVER_EVENT": notice.event.rawValue, "CHANGEOVER_ID": notice.changeover,
            "CHANGEOVER_DATABASE": notice.database,
        ]
        do {
            let outcome = try await Subprocess.run(
                ["/bin/sh", "-c", command], environment: environment,
                unsetting: secretVariables, stdin: Data(body), processGroup: true,
                timeout: config.timeout)
            guard outcome.succeeded else {
                let said = scrub(String(outcome.lastErrorLine.prefix(200)))
                return Delivery(
                    target: "command",
                    failure: "the notify command exited with status \(outcome.status)"
                        + (said.isEmpty ? "" : ": \(said)"))
            }
            return Delivery(target: "command")
        } catch {
            let why =
                error.description.hasPrefix("sh did not finish")
                ? "did not finish within \(ScheduleText.duration(config.timeout))" : error.description
            return Delivery(target: "command", failure: "the notify command \(why)")
        }
    }

    private func post(_ webhook: NotifyConfig.Webhook, notice: ChangeoverNotice, body: [UInt8]) async -> Delivery {
        let target = "webhook \(webhook.name)"
        let head =
            "POST \(webhook.path) HTTP/1.1\r\n"
            + "Host: \(webhook.name.dropFirst("http://".count))\r\n"
            + "User-Agent: changeover\r\n"
            + "Content-Type: application/json\r\n"
            + "Content-Length: \(body.count)\r\n"
            + "X-Changeover-Event: \(notice.event.rawValue)\r\n"
            + "Connection: close\r\n\r\n"
        do {
            let response = try await HTTPExchange.exchange(
                .tcp(host: webhook.host, port: webhook.port),
                request: Array(head.utf8) + body, timeout: config.timeout)
            guard (200..<300).contains(response.status) else {
                return Delivery(target: target, failure: "the webhook \(webhook.name) answered HTTP \(response.status)")
            }
            return Delivery(target: target)
        } catch {
            let why =
                error.kind == .timeout
                ? "gave no answer within \(ScheduleText.duration(config.timeout))" : "failed: \(error.message)"
            return Delivery(target: target, failure: "the webhook \(webhook.name) \(why)")
        }
    }

    /// `text` with secret values and anything that looks like a password masked.
    func scrub(_ text: String) -> String {
        var text = text
        for value in secretValues where text.contains(value) {
            text = text.replacingOccurrences(of: value, with: "********")
        }
        return ConfigError.maskingPasswords(in: text)
    }
}
