import ChangeoverCore
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A test host: a network namespace joined to this machine by a veth pair, so that a server
/// started inside it (`argv(_:)`) is reachable only at `address`, through a link a test can cut
/// and restore. Only the network is the namespace's: the server is still a process of this
/// machine (same PIDs, same filesystem), so the lab and the controller signal it and read its
/// data directory as usual, and its unix socket still works while the link is cut.
///
/// Layout, for host number n of process p (a /30 out of 10.0.0.0/8 derived from p and n):
///
///     root namespace                      namespace chg-p-n
///     chg<p>h<n>  10.X.Y.Z+1/30  <─veth─>  eth0    10.X.Y.Z+2/30  (the server listens here)
///     chg<p>g<n>  route 10.X.Y.Z/30        guard0  (down)
///                 metric 4242
///
/// `cut()` sets `chg<p>h<n>` down. That alone is not a cut: the kernel drops the link's route
/// and sends the host's traffic to the default gateway instead, and here the gateway accepts
/// any TCP connection (a "cut" host answered connects with HTTP 400). The guard veth carries a
/// lower-priority route for the same /30 whose other end is down, so while the link is cut
/// packets to the host are silently dropped there, as on a dead wire: a new connect gets no
/// answer (the kernel gives up with "no route to host" after about 3 s of unanswered ARP) and
/// an established connection stalls. The server's replies die on `eth0`, which has no carrier.
/// Both veth pairs live and die with the namespace, so `remove()` leaves nothing in the root
/// namespace, and neither does a killed test run once `sweep()` has run.
public final class LabNetworkHost: Sendable, CustomStringConvertible {
    /// The network namespace's name, `chg-<pid>-<n>`.
    public let name: String
    /// The host's address (inside the namespace), where its servers listen.
    public let address: String
    /// This machine's end of the link: where connections to `address` come from.
    public let hostAddress: String
    /// The root-side veth of the link, the one `cut()` sets down.
    public let hostInterface: String
    /// The root-side veth that carries the fallback route while the link is cut.
    public let guardInterface: String
    /// `10.X.Y.Z/30`.
    public let subnet: String

    public var description: String { "test host \(name) at \(address)" }

    /// The `ip` tool (iproute2).
    public static var ipTool: String { NetworkNamespace.ipTool }

    static let namePrefix = "chg-"
    static let guardMetric = 4242
    private static let counter = Mutex(0)

    private init(
        name: String, address: String, hostAddress: String, hostInterface: String, guardInterface: String,
        subnet: String
    ) {
        self.name = name
        self.address = address
        self.hostAddress = hostAddress
        self.hostInterface = hostInterface
        self.guardInterface = guardInterface
        self.subnet = subnet
    }

    /// Makes a namespace with its links up and returns once `address` answers.
    public static func create() async throws -> LabNetworkHost {
        let pid = Int(getpid())
        let number = counter.withLock { value in
            value += 1
            return value
        }
        let name = "\(namePrefix)\(pid)-\(number)"
        // Interface names have at most 15 bytes: "chg" + 7 digits of pid_max + 1 + 4.
        let hostInterface = "chg\(pid)h\(number % 10_000)"
        let guardInterface = "chg\(pid)g\(number % 10_000)"
        let base = try await freeSubnet(pid: pid, number: number)
        let host = LabNetworkHost(
            name: name, address: Self.format(base + 2), hostAddress: Self.format(base + 1),
            hostInterface: hostInterface, guardInterface: guardInterface, subnet: "\(Self.format(base))/30")
        do {
            try await ip(["netns", "add", name])
            try await ip(["link", "add", hostInterface, "type", "veth", "peer", "name", "eth0", "netns", name])
            try await ip(["link", "add", guardInterface, "type", "veth", "peer", "name", "guard0", "netns", name])
            try await ip(["addr", "add", "\(host.hostAddress)/30", "dev", hostInterface])
            try await ip(["-n", name, "addr", "add", "\(host.address)/30", "dev", "eth0"])
            for link in ["lo", "eth0"] { try await ip(["-n", name, "link", "set", link, "up"]) }
            try await ip(["link", "set", hostInterface, "up"])
            try await ip(["link", "set", guardInterface, "up"])
            try await ip(["route", "add", host.subnet, "dev", guardInterface, "metric", String(guardMetric)])
            try await host.waitUntilReachable(timeout: .seconds(5))
        } catch {
            await host.remove()
            throw error
        }
        return host
    }

    /// Cuts the link: the root-side veth goes down. Nothing passes in either direction until
    /// `restore()`; connections stay open but stall.
    public func cut() async throws {
        try await Self.ip(["link", "set", hostInterface, "down"])
    }

    /// Sets the link up again and returns once `address` answers a TCP connect (accepted or
    /// refused: either way a packet came back).
    public func restore(timeout: Duration = .seconds(5)) async throws {
        try await Self.ip(["link", "set", hostInterface, "up"])
        try await waitUntilReachable(timeout: timeout)
    }

    /// Whether `address` answers a TCP connect within `timeout` (a refusal counts: it came back).
    public func isReachable(timeout: Duration = .milliseconds(100)) -> Bool {
        Self.answers(address, port: 9, timeout: timeout)
    }

    /// Deletes the namespace, which deletes both veth pairs. Processes still inside it are
    /// killed first: a namespace with processes outlives its name, and its links with it.
    /// Idempotent.
    public func remove() async {
        Self.killProcesses(inNamespace: name)
        _ = try? await Subprocess.run([Self.ipTool, "netns", "delete", name], timeout: .seconds(10))
        // The kernel tears the namespace down asynchronously; wait until its links are gone.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(5)
        while clock.now < deadline, Self.interfaceExists(hostInterface) || Self.interfaceExists(guardInterface) {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// `command` run inside the namespace (`ip netns exec` execs, so the PID is the command's).
    public func argv(_ command: [String]) -> [String] {
        NetworkNamespace.prefix(name) + command
    }

    /// A shell script that runs `command` inside the namespace with the script's own
    /// arguments appended: a stand-in for a server binary, so that code which starts
    /// `<binDirectory>/postgres` starts it on this host.
    public func launcherScript(_ command: [String]) -> String {
        "#!/bin/sh\nexec " + argv(command).map(Self.shellQuote).joined(separator: " ") + " \"$@\"\n"
    }

    /// The PIDs of the processes inside the namespace.
    public func processes() -> [pid_t] { Self.processes(inNamespace: name) }

    // MARK: leftovers

    /// Deletes the namespaces `chg-<pid>-<n>` whose process `pid` is gone (a test run that was
    /// killed), with whatever still runs inside them. Returns their names. Synchronous (it runs
    /// from `Lab.init`): listing is a directory read, and `ip` runs only for leftovers.
    @discardableResult
    public static func sweep() -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/run/netns") else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(namePrefix) {
            let parts = name.dropFirst(namePrefix.count).split(separator: "-")
            guard parts.count == 2, let pid = pid_t(parts[0]), Int(parts[1]) != nil,
                pid != getpid(), !Subprocess.isAlive(pid)
            else { continue }
            killProcesses(inNamespace: name)
            if runNow([ipTool, "netns", "delete", name]) { removed.append(name) }
        }
        return removed
    }

    // MARK: helpers

    private func waitUntilReachable(timeout: Duration) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !isReachable() {
            guard clock.now < deadline else {
                throw LabError("\(self) did not answer within \(timeout.seconds) s")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    private static func ip(_ arguments: [String]) async throws {
        let outcome = try await Subprocess.run([ipTool] + arguments, timeout: .seconds(10))
        guard outcome.succeeded else {
            throw LabError("ip \(arguments.joined(separator: " ")) failed: \(outcome.lastErrorLine)")
        }
    }

    /// The first free /30 (as a 32-bit address) at or after the one numbered by `pid` and
    /// `number`: 10.<pid bits 15-8>.<pid bits 7-0>.<4 × (number mod 64)>, so processes with
    /// different PIDs (below 65536) never pick the same one; this machine's addresses and
    /// routes are checked in case another test or the network uses it.
    private static func freeSubnet(pid: Int, number: Int) async throws -> UInt32 {
        let addresses = try await Subprocess.run([ipTool, "-o", "-4", "addr", "show"], timeout: .seconds(10))
        let routes = try await Subprocess.run([ipTool, "-4", "route", "show", "table", "all"], timeout: .seconds(10))
        guard addresses.succeeded, routes.succeeded else {
            throw LabError("cannot list this machine's addresses: \(addresses.lastErrorLine)\(routes.lastErrorLine)")
        }
        var taken: [(UInt32, UInt32)] = []  // network, mask
        for line in addresses.stdout.split(separator: "\n") {
            let words = line.split(separator: " ")
            if let index = words.firstIndex(of: "inet"), index + 1 < words.count,
                let prefix = parsePrefix(String(words[index + 1]))
            {
                taken.append((prefix.0 & 0xFFFF_FFFC, 0xFFFF_FFFC))  // its own address's /30
                taken.append(prefix)
            }
        }
        for line in routes.stdout.split(separator: "\n") {
            let words = line.split(separator: " ").map(String.init)
            guard let first = words.first else { continue }
            let destination =
                ["unreachable", "blackhole", "prohibit", "throw", "local", "broadcast", "unicast", "multicast"]
                    .contains(first) && words.count > 1 ? words[1] : first
            if destination != "default", let prefix = parsePrefix(destination), prefix.1 != 0 { taken.append(prefix) }
        }
        let first = UInt32((pid & 0xFFFF) << 6 | (number & 63))
        for step in 0..<UInt32(1 << 22) {
            let index = (first &+ step) & 0x3F_FFFF
            let network = 0x0A00_0000 | index << 2
            let overlaps = taken.contains { taken in
                let mask = min(taken.1, 0xFFFF_FFFC)  // the wider of the two prefixes
                return network & mask == taken.0 & mask
            }
            if !overlaps && index != 0 { return network }
        }
        throw LabError("no free /30 in 10.0.0.0/8")
    }

    /// "10.1.2.3/24" → (network, mask); a bare address is a /32.
    private static func parsePrefix(_ text: String) -> (UInt32, UInt32)? {
        let parts = text.split(separator: "/")
        let length = parts.count == 2 ? Int(parts[1]) : 32
        guard let length, (0...32).contains(length), let address = parseAddress(String(parts[0])) else { return nil }
        let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << (32 - length)
        return (address & mask, mask)
    }

    private static func parseAddress(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 < 256 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1 }
    }

    private static func format(_ address: UInt32) -> String {
        [24, 16, 8, 0].map { String(address >> UInt32($0) & 0xFF) }.joined(separator: ".")
    }

    private static func shellQuote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private static func interfaceExists(_ name: String) -> Bool {
        FileManager.default.fileExists(atPath: "/sys/class/net/\(name)")
    }

    /// A non-blocking TCP connect to `host:port`: true when it is accepted or refused.
    static func answers(_ host: String, port: Int, timeout: Duration) -> Bool {
        FreePort.probe(host, port: port, timeout: timeout) != .noAnswer
    }

    static func processes(inNamespace name: String) -> [pid_t] { NetworkNamespace.processes(in: name) }

    /// SIGKILLs every process inside the namespace and waits (briefly) until they are gone.
    private static func killProcesses(inNamespace name: String) {
        var pids = processes(inNamespace: name).filter { $0 != getpid() }
        for pid in pids { kill(pid, SIGKILL) }
        for _ in 0..<500 where !pids.isEmpty {
            pids = pids.filter { pid in
                _ = Subprocess.reap(pid)
                return Subprocess.isAlive(pid)
            }
            if !pids.isEmpty { usleep(2000) }
        }
    }

    /// Runs `argv` to completion without suspending (for `sweep()`, which runs from a
    /// synchronous initializer); true when it succeeded.
    private static func runNow(_ argv: [String], timeout: Duration = .seconds(10)) -> Bool {
        guard let pid = try? Subprocess.spawn(argv) else { return false }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let status = Subprocess.reap(pid) { return status == 0 }
            usleep(1000)
        }
        kill(pid, SIGKILL)
        while Subprocess.reap(pid) == nil { usleep(1000) }
        return false
    }
}
