import ChangeoverCore
import Foundation
import PostgresClient

#if canImport(Glibc)
    import Glibc
#endif

/// A real HAProxy in `mode tcp` in front of a lab primary: one frontend on a free loopback port,
/// backend `pg` with one server `primary`, and the runtime API on a unix socket at admin level.
/// It runs in the foreground (`-db`), its files under `<lab root>/haproxy`. Stop it with `stop()`;
/// the lab's `shutdown()` does not know about it.
public final class LabHAProxy: Sendable {
    public let directory: String
    public let port: Int
    public let pid: pid_t
    public let socket: String
    public let backend = "pg"
    public let server = "primary"
    public let logFile: String

    private init(directory: String, port: Int, pid: pid_t) {
        self.directory = directory
        self.port = port
        self.pid = pid
        self.socket = "\(directory)/admin.sock"
        self.logFile = "\(directory)/haproxy.log"
    }

    /// Starts haproxy in front of `server` and waits until its frontend and runtime socket are up.
    public static func start(lab: Lab, inFrontOf front: Lab.Server) async throws -> LabHAProxy {
        let directory = "\(lab.root)/haproxy"
        try LocalFiles.makeDirectory(directory, owner: nil, mode: 0o700)
        let port = FreePort.next()
        let layout = LabHAProxy(directory: directory, port: port, pid: 0)
        let config = "\(directory)/haproxy.cfg"
        try """
        global
            stats socket \(layout.socket) mode 600 level admin
            maxconn 2000

        defaults
            mode tcp
            # A refused connect (the old primary is fenced, the new one not yet promoted) is
            # retried every 100 ms for up to 2 s, at the server's address of the moment: a
            # client that connects during the switchover waits instead of failing.
            timeout connect 100ms
            retries 20
            option redispatch 1
            timeout client 1h
            timeout server 1h

        frontend postgres
            bind 127.0.0.1:\(port)
            default_backend \(layout.backend)

        backend \(layout.backend)
            server \(layout.server) 127.0.0.1:\(front.port)

        """.write(toFile: config, atomically: false, encoding: .utf8)
        let pid = try Subprocess.spawn(["haproxy", "-f", config, "-db"], outputPath: layout.logFile, newSession: true)
        let started = LabHAProxy(directory: directory, port: port, pid: pid)
        let deadline = ContinuousClock.now + .seconds(20)
        while !(FileManager.default.fileExists(atPath: started.socket) && !FreePort.isFree(port)) {
            if let status = Subprocess.reap(pid) {
                throw LabError("haproxy exited during start-up (status \(status)); see \(started.logFile)")
            }
            if ContinuousClock.now >= deadline {
                await started.stop()
                throw LabError("haproxy did not start within 20 s; see \(started.logFile)")
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return started
    }

    /// What a client of the database uses: haproxy's frontend, the lab's superuser and password.
    public func clientConnInfo(lab: Lab) -> ConnInfo {
        try! ConnInfo("host=127.0.0.1 port=\(port) user=postgres dbname=postgres connect_timeout=2")
            .with("password", lab.superuserPassword)
    }

    /// The `router:` lines of a fleet config (indented 6).
    public var routerConfig: String {
        """
              kind: haproxy
              socket: \(socket)
              backend: \(backend)
              server: \(server)
              timeout: 5s
        """
    }

    /// Stops haproxy (SIGTERM: hard stop; SIGKILL after 10 s). Idempotent.
    public func stop() async {
        guard pid > 0 else { return }
        if Subprocess.reap(pid) != nil { return }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while Subprocess.reap(pid) == nil {
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { try? await Task.sleep(for: .milliseconds(5)) }
                return
            }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}
