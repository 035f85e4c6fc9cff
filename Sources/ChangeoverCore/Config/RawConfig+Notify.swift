import Foundation

/// The `notify:` section, fleet-wide and per database.
extension RawConfig {
    struct RawNotify: Decodable {
        var command: String?
        var webhook: String?
        var before: [String]?
        var on: [String]?
        var timeout: String?
    }

    /// The most reminders a config may ask for.
    static let maximumReminders = 16

    /// The fleet's `notify:` with a database's own keys over it. Errors name the key where it
    /// was written: `config F, notify.before[1]` or `config F, database D, notify.webhook`.
    /// `on: []` in a database's section turns its notifications off.
    static func resolveNotify(fleet: RawNotify?, database: RawNotify?, source: String, name: String?)
        throws(ConfigError) -> NotifyConfig
    {
        func at(_ key: String, _ own: Bool) -> String {
            own && name != nil
                ? "config \(source), database \(name!), notify.\(key)" : "config \(source), notify.\(key)"
        }
        var config = NotifyConfig()
        let commandOwn = database?.command != nil
        if let command = database?.command ?? fleet?.command {
            guard !command.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw ConfigError("\(at("command", commandOwn)) is empty (leave the key out for no command)")
            }
            config.command = command
        }
        let webhookOwn = database?.webhook != nil
        if let text = database?.webhook ?? fleet?.webhook {
            config.webhook = try webhook(text, at: at("webhook", webhookOwn))
        }
        let beforeOwn = database?.before != nil
        if let list = database?.before ?? fleet?.before {
            guard list.count <= maximumReminders else {
                throw ConfigError("\(at("before", beforeOwn)): \(list.count) reminders; at most \(maximumReminders)")
            }
            var durations: [Duration] = []
            for (index, text) in list.enumerated() {
                let value = try ConfigValue.duration(text, at: at("before[\(index)]", beforeOwn))
                guard value > .zero else {
                    throw ConfigError("\(at("before[\(index)]", beforeOwn)): must be more than 0")
                }
                if !durations.contains(value) { durations.append(value) }
            }
            config.before = durations.sorted(by: >)
        }
        let onOwn = database?.on != nil
        if let list = database?.on ?? fleet?.on {
            var events: Set<NotifyEvent> = []
            for text in list {
                guard let event = NotifyEvent(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
                    let known = NotifyEvent.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigError("\(at("on", onOwn)): unknown event \"\(text)\" (known: \(known))")
                }
                events.insert(event)
            }
            config.events = events
        }
        if !config.before.isEmpty, !config.events.contains(.reminder) {
            throw ConfigError(
                "\(at("before", beforeOwn || onOwn)) asks for reminders but notify.on leaves out reminder")
        }
        let timeoutOwn = database?.timeout != nil
        if let text = database?.timeout ?? fleet?.timeout {
            let value = try ConfigValue.duration(text, at: at("timeout", timeoutOwn))
            guard value >= .milliseconds(100), value <= .seconds(600) else {
                throw ConfigError("\(at("timeout", timeoutOwn)): \"\(text)\" is out of range (100ms…10m)")
            }
            config.timeout = value
        }
        return config
    }

    /// `http://host[:port][/path]`. Not https (the controller speaks plain HTTP), no user info
    /// (a password there would be printed wherever the URL is), nothing in the path that could
    /// break the request line.
    static func webhook(_ text: String, at: String) throws(ConfigError) -> NotifyConfig.Webhook {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 2048 else {
            throw ConfigError("\(at): a URL of \(trimmed.utf8.count) bytes; at most 2048")
        }
        let lower = trimmed.lowercased()
        if lower.hasPrefix("https://") {
            throw ConfigError(
                "\(at): https is not supported (plain http only); use a relay on this host, or notify.command (e.g. curl)"
            )
        }
        guard lower.hasPrefix("http://") else {
            throw ConfigError("\(at): \"\(trimmed)\" is not an http:// URL")
        }
        let rest = trimmed.dropFirst("http://".count)
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var path = String(rest[authorityEnd...])
        if path.isEmpty { path = "/" } else if path.hasPrefix("?") { path = "/" + path }
        guard !authority.contains("@") else {
            throw ConfigError(
                "\(at): the URL holds user info (user@host); put a token in its path, or use notify.command")
        }
        guard path.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw ConfigError("\(at): the URL's path has spaces, control or non-ASCII characters (percent-encode them)")
        }
        var host = Substring(authority)
        var port = 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw ConfigError("\(at): \"\(trimmed)\" has an unclosed [ in its host")
            }
            let after = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let value = Int(after.dropFirst()), (1...65535).contains(value) else {
                    throw ConfigError("\(at): \"\(trimmed)\" has a bad port (1…65535)")
                }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]), (1...65535).contains(value) else {
                throw ConfigError("\(at): \"\(trimmed)\" has a bad port (1…65535)")
            }
            port = value
            host = host[..<colon]
        }
        guard !host.isEmpty, host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F && $0 != "%" }) else {
            throw ConfigError("\(at): \"\(trimmed)\" has no usable host")
        }
        return NotifyConfig.Webhook(host: String(host), port: port, path: path)
    }
}
