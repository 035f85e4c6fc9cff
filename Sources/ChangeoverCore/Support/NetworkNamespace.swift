import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Named network namespaces (`ip netns`): a server that runs in one must be started again in
/// the same one, or it cannot bind the addresses it listens on.
public enum NetworkNamespace {
    /// `ip`, wherever this system keeps it.
    public static let ipTool: String =
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "ip"

    /// The name under /run/netns of the namespace process `pid` runs in, or nil when it runs in
    /// this process's namespace (or one without a name, or the process is gone).
    public static func name(ofProcess pid: pid_t) -> String? {
        var theirs = stat()
        var ours = stat()
        guard stat("/proc/\(pid)/ns/net", &theirs) == 0, stat("/proc/self/ns/net", &ours) == 0,
            theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev,
            let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")
        else { return nil }
        return names.sorted().first { name in
            var named = stat()
            return stat("/run/netns/\(name)", &named) == 0 && named.st_ino == theirs.st_ino
                && named.st_dev == theirs.st_dev
        }
    }

    /// The processes whose network namespace is the named one (what `ip netns pids` reports).
    public static func processes(in name: String) -> [pid_t] {
        var target = stat()
        guard stat("/run/netns/\(name)", &target) == 0,
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc")
        else { return [] }
        return entries.compactMap { pid_t($0) }.filter { pid in
            var namespace = stat()
            return stat("/proc/\(pid)/ns/net", &namespace) == 0
                && namespace.st_ino == target.st_ino && namespace.st_dev == target.st_dev
        }
    }

    /// `argv` run inside the named namespace (`ip netns exec` execs, so the PID is the command's).
    public static func prefix(_ name: String?) -> [String] {
        guard let name else { return [] }
        return [ipTool, "netns", "exec", name]
    }
}
