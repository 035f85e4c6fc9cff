import ChangeoverCore
import Dispatch
import Foundation
import RedisClient

/// Test kit: a real `redis-server` running in the foreground as this process's child, on a free
/// loopback port, with its own temp directory and log file.
final class RedisServer: Sendable {
    static let executable = URL(fileURLWithPath: "/usr/bin/redis-server")

    let port: Int
    let directory: URL
    private let process: Process

    private init(port: Int, directory: URL, process: Process) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    /// Starts a server and waits until it accepts connections. Retries on another port when the
    /// chosen one was taken meanwhile.
    static func start(_ extraArguments: [String] = []) async throws -> RedisServer {
        var lastLog = ""
        for _ in 1...3 {
            let port = try freeLoopbackPort()
            let directory = FileManager.default.temporaryDirectory
                .appendingPathComponent("changeover-redis-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let logURL = directory.appendingPathComponent("redis.log")
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
            let log = try FileHandle(forWritingTo: logURL)
            defer { try? log.close() }

            let process = Process()
            process.executableURL = executable
            process.arguments =
                [
                    "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--dir", directory.path,
                ] + extraArguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = log
            process.standardError = log
            try runWithUnblockedSignals(process)

            let server = RedisServer(port: port, directory: directory, process: process)
            if await server.waitUntilReady(within: .seconds(5)) {
                return server
            }
            lastLog = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
            await server.stop()
        }
        throw TestKitError("redis-server did not start; last log:\n\(lastLog)")
    }

    /// Runs `body` with a fresh server and stops the server afterwards, also when `body` throws.
    static func with<R>(
        _ extraArguments: [String] = [], _ body: (RedisServer) async throws -> R
    ) async throws -> R {
        let server = try await start(extraArguments)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// SIGTERM, wait for the exit off the cooperative pool (SIGKILL if it has not exited after
    /// 10 s), remove the directory. Idempotent.
    func stop() async {
        let process = self.process
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                if process.isRunning {
                    process.terminate()
                    let deadline = ContinuousClock.now + .seconds(10)
                    while process.isRunning, ContinuousClock.now < deadline {
                        usleep(10_000)
                    }
                    if process.isRunning {
                        kill(process.processIdentifier, SIGKILL)
                    }
                }
                process.waitUntilExit()
                continuation.resume()
            }
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func waitUntilReady(within limit: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while clock.now < deadline, process.isRunning {
            do {
                let connection = try await RedisConnection.connect(endpoint, timeout: .milliseconds(200))
                defer { connection.close() }
                _ = try await connection.command(["PING"], timeout: .milliseconds(500))
                return true
            } catch  where error.code == .serverError {
                return true  // e.g. NOAUTH: the server is up and wants a password
            } catch {
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return false
    }
}

/// Foundation's `Process` spawns the child with the calling thread's signal mask, and Swift's
/// pool and dispatch threads block most signals, SIGTERM included; redis-server does not unblock
/// them, so it would never see `terminate()`. Spawn with an empty mask, then restore it.
private func runWithUnblockedSignals(_ process: Process) throws {
    var empty = sigset_t()
    var saved = sigset_t()
    sigemptyset(&empty)
    pthread_sigmask(SIG_SETMASK, &empty, &saved)
    defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
    try process.run()
}

struct TestKitError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A loopback port to listen on (see `FreePort.next`: outside the ephemeral range, never
/// handed out twice in this process).
func freeLoopbackPort() throws -> Int { FreePort.next() }

/// Waits for `condition` with a deadline, polling; never a fixed sleep.
func eventually(
    within limit: Duration, _ condition: () async throws -> Bool
) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
