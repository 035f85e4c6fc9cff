import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a follower listens when `follower.listen` does not say: where its primary listens
/// (Postgres `listen_addresses`, Redis `bind`), so that a new primary is reachable wherever the
/// old one was; but only when every address of it is one this host has (a primary in a
/// container or another network namespace may listen where this host has no address).
public enum ListenAddresses {
    /// `value` (`*`, `localhost,10.0.0.5`, `127.0.0.1 -::1`) when this host can listen on all of
    /// it, else nil.
    public static func inherited(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        let local = Set(interfaceAddresses()).union(["*", "0.0.0.0", "::", "localhost", "127.0.0.1", "::1"])
        let words = tokens(value).map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 }
        return words.allSatisfy(local.contains) ? value : nil
    }

    /// The host a client reaches a server listening on `value` at: its first address, or
    /// 127.0.0.1 for a wildcard or `localhost`.
    public static func reachable(_ value: String) -> String {
        let first = tokens(value).first.map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 } ?? "127.0.0.1"
        return isWildcard(first) || first == "localhost" ? "127.0.0.1" : first
    }

    /// Whether `value` means every address (`*`, `0.0.0.0`, `::`, or nothing).
    public static func isWildcard(_ value: String) -> Bool { ["*", "0.0.0.0", "::", ""].contains(value) }

    /// Postgres separates addresses with commas, Redis with spaces.
    static func tokens(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == "," || $0 == " " }).map { $0.trimmingCharacters(in: .whitespaces) }.filter {
            !$0.isEmpty
        }
    }

    /// The IPv4 and IPv6 addresses of this host's interfaces (in this network namespace).
    static func interfaceAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr else { continue }
            let family = Int32(address.pointee.sa_family)
            guard family == AF_INET || family == AF_INET6 else { continue }
            var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
            let length = socklen_t(family == AF_INET ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size)
            if getnameinfo(address, length, &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST) == 0 {
                addresses.append(String(cString: host).split(separator: "%").first.map(String.init) ?? "")
            }
        }
        return addresses
    }
}
