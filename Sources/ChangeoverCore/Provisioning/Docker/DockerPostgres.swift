import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Postgres server in a container, as the engines manage it: signalled through the Engine API,
/// its files (postmaster.pid, pg_control, pg_replslot) read where its data directory's volume is
/// on the engine's host — or, where that is not reachable from here, through `exec` while it
/// runs and a one-shot container on the same volume once it has stopped.
public struct DockerPostgres: ManagedPostgres {
    public var client: DockerEngineClient
    public var container: String
    /// The data directory inside the container (`current_setting('data_directory')`).
    public var dataDirectory: String
    /// Put on the one-shot containers it runs.
    public var labels: [String: String]
    /// Where the data directory was found by `stop`: right after an exit the engine answers an
    /// inspect only once it has handled the exit (80–240 ms here), and the fence reads the control
    /// data right then, inside the write pause.
    private let stoppedAt = StoppedMount()

    final class StoppedMount: Sendable {
        let value = Mutex<DataMount?>(nil)
    }

    public init(client: DockerEngineClient, container: String, dataDirectory: String, labels: [String: String] = [:]) {
        self.client = client
        self.container = container
        self.dataDirectory = dataDirectory
        self.labels = labels
    }

    public var location: String { "container \(container)" }

    /// Whether the server runs: the engine says the container runs and, where the engine is on
    /// this host, its main process is alive (the engine reports an exit a few ms after it).
    public var isRunning: Bool {
        get async { (try? await dataMount())?.running ?? false }
    }

    /// Where the data directory is: its mount, and its path on this host if it can be read from here.
    struct DataMount: Sendable {
        var mount: DockerContainer.Mount?
        var hostPath: String?
        /// The Id of the image the container runs.
        var image: String
        /// The container runs (and, where the engine is on this host, its main process is alive).
        var running: Bool
        /// The engine reports the container running although its main process has exited.
        var exiting: Bool
        /// The postmaster's PID on this host, when the engine's host is this one and it runs.
        var hostPid: pid_t?
    }

    func dataMount() async throws -> DataMount {
        let inspected = try await client.container(container)
        let mount = inspected.mount(at: dataDirectory)
        var hostPath: String?
        if let source = mount?.source, FileManager.default.isReadableFile(atPath: "\(source)/PG_VERSION") {
            hostPath = source
        }
        // The engine's PID is this host's when the volume is on this host (the engine is local).
        var hostPid: pid_t?
        var exiting = false
        if inspected.running, inspected.pid > 0, hostPath != nil {
            if !Subprocess.isAlive(inspected.pid) {
                exiting = true
            } else if let commandLine = FileManager.default.contents(atPath: "/proc/\(inspected.pid)/cmdline"),
                commandLine.starts(with: Array("postgres".utf8))
            {
                hostPid = inspected.pid
            }
        }
        return DataMount(
            mount: mount, hostPath: hostPath, image: inspected.image, running: inspected.running && !exiting,
            exiting: exiting, hostPid: hostPid)
    }

    /// `postmaster.pid` of the running server (nil when there is none).
    func pidFile() async -> LocalPostgres.PidFile? {
        guard let data = try? await dataMount() else { return nil }
        if let hostPath = data.hostPath { return LocalPostgres(binDirectory: "", dataDirectory: hostPath).pidFile() }
        guard
            let result = try? await client.exec(
                container, ["cat", "\(dataDirectory)/postmaster.pid"], user: "postgres",
                timeout: .seconds(10)),
            result.exitCode == 0
        else { return nil }
        return LocalPostgres.parsePidFile(result.stdout)
    }

    /// SIGINT (a fast shutdown) to the container's main process, the postmaster, then waits for it
    /// to be gone. Where the engine runs on this host (the volume is readable here) it is
    /// signalled directly and watched at millisecond granularity — its postmaster.pid, then its
    /// process — as `LocalPostgres` does: the Engine API's kill goes through containerd and runc
    /// (20–40 ms here) and the engine reports the exit some 50 ms later, all inside the write pause.
    /// Elsewhere: the API's kill, then until the engine reports the container stopped.
    public func stop(timeout: Duration, signal: Int32) async throws {
        let data = try await dataMount()
        stoppedAt.value.withLock { $0 = data }
        guard data.running else { return }
        if let pid = data.hostPid, kill(pid, signal) == 0 {
            // signalled
        } else {
            try await client.kill(container, signal: Self.signalName(signal))
        }
        if let hostPath = data.hostPath {
            let local = LocalPostgres(binDirectory: "", dataDirectory: hostPath)
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while local.pidFile() != nil || data.hostPid.map(Subprocess.isAlive) == true {
                guard clock.now < deadline else {
                    throw EngineError("postgres in container \(container) did not stop within \(timeout.seconds) s")
                }
                try await Task.sleep(for: .milliseconds(1))
            }
            if data.hostPid != nil { return }  // exited: `isRunning` knows it before the engine does
            do {
                try await client.wait(container, timeout: max(deadline - clock.now, .seconds(1)))
            } catch {
                guard error.code == .timeout else { throw error }
                throw EngineError("postgres in container \(container) did not stop within \(timeout.seconds) s")
            }
            return
        }
        do {
            try await client.wait(container, timeout: timeout)
        } catch {
            guard error.code == .timeout else { throw error }
            throw EngineError("postgres in container \(container) did not stop within \(timeout.seconds) s")
        }
    }

    /// From `global/pg_control` on the volume (CRC-checked, as for a local server), else from
    /// `pg_controldata` in a one-shot container of the same image on the same volume.
    public func controlData() async throws -> [String: String] {
        let cached = stoppedAt.value.withLock { $0 }
        let data = if let cached { cached } else { try await dataMount() }
        if let hostPath = data.hostPath, let values = ControlFile.read("\(hostPath)/global/pg_control") {
            return values
        }
        guard let volume = data.mount?.name else {
            throw EngineError(
                "the data directory \(dataDirectory) of container \(container) is not on a volume: its control data cannot be read"
            )
        }
        let result = try await client.run(
            "\(container)-controldata",
            DockerContainerSpec(
                image: data.image, command: ["-D", dataDirectory], entrypoint: ["pg_controldata"],
                environment: ["LC_ALL=C"], labels: labels.merging(["org.changeover.role": "probe"]) { _, new in new },
                networkMode: "none",
                volumes: [(volume, dataDirectory)]),
            timeout: .seconds(60))
        guard result.exitCode == 0 else { throw EngineError("pg_controldata failed: \(result.lastErrorLine)") }
        return LocalPostgres.parseControlData(result.stdout)
    }

    /// Starts the stopped container again (same command, same volume) and waits until its
    /// postmaster says "ready" (or "standby").
    public func startAgain(log: String, timeout: Duration) async throws {
        // Stopped a moment ago: the engine must have seen the exit, or it takes a start for a no-op.
        if (try? await dataMount())?.exiting == true { try await client.wait(container, timeout: timeout) }
        try await client.start(container)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if let file = await pidFile(), file.status == "ready" || file.status == "standby" { return }
            let inspected = try await client.container(container)
            if !inspected.running {
                let last =
                    (try? await client.logs(container, tail: 5))?.split(whereSeparator: \.isNewline).last.map(
                        String.init) ?? ""
                throw EngineError("container \(container) exited during start-up (code \(inspected.exitCode)): \(last)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw EngineError("postgres in container \(container) did not accept connections within \(timeout.seconds) s")
    }

    public func removeSlotDirectory(_ slot: String) async throws {
        let data = try await dataMount()
        if let hostPath = data.hostPath {
            try await LocalPostgres(binDirectory: "", dataDirectory: hostPath).removeSlotDirectory(slot)
            return
        }
        guard let volume = data.mount?.name else {
            throw EngineError(
                "the data directory \(dataDirectory) of container \(container) is not on a volume: its slot \(slot) cannot be removed"
            )
        }
        let result = try await client.run(
            "\(container)-dropslot",
            DockerContainerSpec(
                image: data.image, command: ["-rf", "\(dataDirectory)/pg_replslot/\(slot)"], entrypoint: ["rm"],
                labels: labels.merging(["org.changeover.role": "probe"]) { _, new in new }, networkMode: "none",
                volumes: [(volume, dataDirectory)]),
            timeout: .seconds(60))
        guard result.exitCode == 0 else {
            throw EngineError("removing the slot \(slot) failed: \(result.lastErrorLine)")
        }
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGTERM: "SIGTERM"
        case SIGKILL: "SIGKILL"
        default: String(signal)
        }
    }
}
