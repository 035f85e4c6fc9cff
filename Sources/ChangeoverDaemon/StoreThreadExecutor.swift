import Foundation
import Synchronization

/// A task executor with one thread of its own. The daemon's tick runs on it
/// (`withTaskExecutorPreference`): the tick's store calls (SQLite reads and writes, an audit
/// sync, a libpq round trip to a shared store) block, and on the cooperative pool — two threads
/// here — each would stall half the runtime, the changeovers' own waits included.
final class StoreThreadExecutor: TaskExecutor, Sendable {
    private let jobs = Mutex<[UnownedJob]>([])
    private let ready = DispatchSemaphore(value: 0)

    init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        jobs.withLock { $0.append(job) }
        ready.signal()
    }

    /// Runs the jobs in the order they came, for the life of the process (the daemon has one).
    private func run() {
        while true {
            ready.wait()
            guard let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) else { continue }
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
