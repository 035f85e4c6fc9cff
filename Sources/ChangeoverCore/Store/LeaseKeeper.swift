import Foundation
import Synchronization

/// Keeps a lease while a controller works on its database: renews it every third of its ttl in a
/// task of its own, and tells the controller the moment it is no longer sure to hold it.
///
/// Held means both: the store accepted the last renewal, and less than a ttl has passed (by this
/// process's monotonic clock) since that renewal was *sent*. The second half is what fences a
/// controller cut off from the store: the store lets another holder claim the lease a ttl after
/// the last renewal it saw, and by then this one has stopped (`check()` throws) even if it never
/// hears from the store again.
public final class LeaseKeeper: Sendable {
    private struct State {
        var lease: Lease
        var heldUntil: ContinuousClock.Instant
        var lost: LeaseLost?
        var released = false
    }

    private let store: StateStore
    private let ttl: Duration
    private let state: Mutex<State>
    private let renewer = Mutex<Task<Void, Never>?>(nil)
    private let onLost: @Sendable (LeaseLost) -> Void

    /// `claimedAt`: when the claim was sent. `onLost` is called when a renewal or a check finds
    /// the lease gone (perhaps more than once): the holder stops what it is doing.
    public init(
        lease: Lease, store: StateStore, claimedAt: ContinuousClock.Instant,
        onLost: @escaping @Sendable (LeaseLost) -> Void = { _ in }
    ) {
        self.store = store
        self.ttl = store.leaseTTL
        self.onLost = onLost
        state = Mutex(State(lease: lease, heldUntil: claimedAt + store.leaseTTL))
    }

    deinit { renewer.withLock { $0?.cancel() } }

    public var lease: Lease { state.withLock { $0.lease } }

    /// Starts renewing every third of the ttl.
    public func start() {
        let task = Task { [weak self] in
            while let every = self?.ttl, !Task.isCancelled {
                try? await Task.sleep(for: every / 3)
                guard let self, !Task.isCancelled else { return }
                if (try? await self.confirm()) == nil, self.lostReason != nil { return }
            }
        }
        renewer.withLock { $0 = task }
    }

    private var lostReason: LeaseLost? { state.withLock { $0.lost } }

    /// Throws `LeaseLost` unless the lease is surely still held (no store call).
    public func check() throws {
        let lost = state.withLock { state -> LeaseLost? in
            if let lost = state.lost { return lost }
            guard ContinuousClock.now < state.heldUntil else {
                state.lost = LeaseLost(
                    database: state.lease.database, token: state.lease.token,
                    reason: "not renewed within its ttl of \(ttl) (the store did not answer)")
                return state.lost
            }
            return nil
        }
        if let lost {
            onLost(lost)
            throw lost
        }
    }

    /// Renews the lease now, a write conditional on its token: throws `LeaseLost` when the store
    /// says it is gone. A store that cannot be reached throws its error, and the lease counts as
    /// held until its ttl runs out.
    public func confirm() async throws {
        try check()
        let sent = ContinuousClock.now
        let lease = self.lease
        let renewed: Lease?
        do {
            renewed = try await store.renew(lease)
        } catch {
            try check()
            throw error
        }
        guard let renewed else {
            let lost = state.withLock { state -> LeaseLost in
                let lost =
                    state.lost
                    ?? LeaseLost(
                        database: lease.database, token: lease.token,
                        reason: "it expired or another controller took it over")
                state.lost = lost
                return lost
            }
            onLost(lost)
            throw lost
        }
        state.withLock { state in
            state.lease = renewed
            state.heldUntil = max(state.heldUntil, sent + ttl)
        }
    }

    /// Stops renewing and lets the lease go, unless it was lost (then it is not ours to release).
    public func release() async {
        renewer.withLock { $0?.cancel() }
        let (lease, release) = state.withLock { state in
            defer { state.released = true }
            return (state.lease, state.lost == nil && !state.released)
        }
        if release { try? await store.release(lease) }
    }

    /// Stops renewing and keeps the lease as it is: it expires in its ttl.
    public func abandon() {
        renewer.withLock { $0?.cancel() }
    }
}
