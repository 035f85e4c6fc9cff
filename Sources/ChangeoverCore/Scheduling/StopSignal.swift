import Foundation
import Synchronization

/// A request to stop a controller before its switchover (SIGTERM, SIGINT): set once, observed by
/// the executor between steps and by the steps that may be interrupted (catch-up, the wait for
/// the window). Steps from the fence on never look at it: a switchover that began finishes, or
/// rolls back, before the controller exits.
public final class StopSignal: Sendable {
    private struct State {
        var reason: String?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The reason given by the first request, or nil while none was made.
    public var reason: String? { state.withLock { $0.reason } }
    public var isRequested: Bool { reason != nil }

    /// Asks to stop. Later requests keep the first reason.
    public func request(_ reason: String) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.reason == nil else { return [] }
            state.reason = reason
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once a stop was requested, or when the calling task is cancelled.
    public func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.reason != nil || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }

    /// Runs `body` unless and until a stop is requested: then `body`'s task is cancelled,
    /// awaited, and `ChangeoverStopped` is thrown.
    public func interruptible<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if let reason { throw ChangeoverStopped(.stopped, reason) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                await self.wait()
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw ChangeoverStopped(.stopped, reason ?? "stopped")
            }
            return value
        }
    }

    /// Sleeps for `duration`, or throws `ChangeoverStopped` as soon as a stop is requested.
    public func sleep(for duration: Duration) async throws {
        try await interruptible { try await Task.sleep(for: duration) }
    }
}
