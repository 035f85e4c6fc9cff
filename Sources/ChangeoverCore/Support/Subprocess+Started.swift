import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension Subprocess {
    /// A command started now and finished later, with a pipe to its stdin: what makes a command
    /// ready before a moment that must be short, so that the moment costs a line written to it
    /// instead of a process started (`SSHPostgres.armStop`).
    ///
    /// Its output goes to files, as `run`'s does. Dropped unfinished, it is killed and reaped,
    /// which closes its stdin: a command that waits for a line sees the end of its input.
    public final class Started: Sendable {
        public let pid: pid_t
        private let name: String
        private let outPath: String
        private let errPath: String
        private let state: Mutex<State>

        private struct State {
            var input: Int32
            var status: Int32?
        }

        /// Starts `argv`, its stdin the read end of a pipe this object writes to.
        public init(_ argv: [String]) throws(Failure) {
            let scratch = FileManager.default.temporaryDirectory.path
            let token = UUID().uuidString.prefix(12)
            outPath = "\(scratch)/changeover-\(token).out"
            errPath = "\(scratch)/changeover-\(token).err"
            name = URL(fileURLWithPath: argv[0]).lastPathComponent
            for path in [outPath, errPath] {
                let fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0o600)
                if fd >= 0 { close(fd) }
            }
            var ends: [Int32] = [-1, -1]
            guard pipe(&ends) == 0 else {
                throw Failure(description: "cannot make a pipe for \(name): \(String(cString: strerror(errno)))")
            }
            // Other children never get the write end: `spawn` closes every descriptor above 2.
            _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
            // A reader that exits early must not kill this process with SIGPIPE.
            signal(SIGPIPE, SIG_IGN)
            do {
                pid = try Subprocess.spawn(argv, outputPath: outPath, stderrPath: errPath, stdinDescriptor: ends[0])
            } catch {
                close(ends[0])
                close(ends[1])
                unlink(outPath)
                unlink(errPath)
                throw error
            }
            close(ends[0])
            state = Mutex(State(input: ends[1], status: nil))
        }

        deinit {
            let (input, status) = state.withLock { ($0.input, $0.status) }
            if input >= 0 { close(input) }
            if status == nil {
                kill(pid, SIGKILL)
                while Subprocess.reap(pid) == nil { usleep(1000) }
            }
            unlink(outPath)
            unlink(errPath)
        }

        /// What it has written to stdout so far.
        public var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }

        /// Its exit status if it has exited (reaped here, once).
        public var status: Int32? {
            state.withLock { state in
                if state.status == nil { state.status = Subprocess.reap(pid) }
                return state.status
            }
        }

        /// Writes `line` and a newline to its stdin; false when it no longer reads.
        @discardableResult
        public func send(_ line: String) -> Bool {
            let bytes = Array((line + "\n").utf8)
            return state.withLock { state in
                guard state.input >= 0 else { return false }
                var written = 0
                while written < bytes.count {
                    let n = bytes[written...].withUnsafeBytes { write(state.input, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { return false }
                    written += n
                }
                return true
            }
        }

        /// Closes its stdin: a command that waits for a line sees the end of its input.
        public func closeInput() {
            state.withLock { state in
                if state.input >= 0 { close(state.input) }
                state.input = -1
            }
        }

        /// Waits until `stdout` contains `text` or the command exits; true when the text came.
        public func waitForOutput(_ text: String, timeout: Duration) async -> Bool {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if stdout.contains(text) { return true }
                if status != nil { return stdout.contains(text) }
                try? await Task.sleep(for: .milliseconds(2))
            }
            return false
        }

        /// Waits for it to exit, looking every millisecond; past `timeout` it is killed.
        public func finish(timeout: Duration) async throws(Failure) -> Outcome {
            let deadline = ContinuousClock.now + timeout
            while true {
                if let status {
                    closeInput()
                    let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
                    return Outcome(status: status, stdout: stdout, stderr: stderr)
                }
                if ContinuousClock.now >= deadline {
                    kill(pid, SIGKILL)
                    _ = state.withLock { state in
                        while state.status == nil {
                            state.status = Subprocess.reap(pid)
                            if state.status == nil { usleep(1000) }
                        }
                    }
                    closeInput()
                    throw Failure(description: "\(name) did not finish within \(timeout.seconds) s")
                }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
    }
}
