/// The steps of a changeover, in order, and the terminal states.
///
/// The switchover of DESIGN.md is split into its own steps (fence, final-sync, promote,
/// repoint, verify) so that the audit log, `status` and a later resume know exactly where a
/// changeover stood. The promotion is the point of no return: a failure before it rolls back
/// to the old primary, a failure from it on can only go forward.
public enum ChangeoverStep: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case pending
    case preflight
    case provision
    case catchUp = "catch-up"
    /// Between the catch-up and the fence: the changeover waits until its maintenance window is
    /// open with room for the switchover (or a deadline forces it), keeping the follower caught up.
    /// A changeover run with `--now` passes through at once.
    case awaitWindow = "await-window"
    case fence
    case finalSync = "final-sync"
    case promote
    case repoint
    case verify
    case settle
    case rollback
    /// Terminal: the new primary serves and the old one is retired.
    case done
    /// Terminal: rolled back before the promotion; the old primary serves, nothing was left behind.
    case aborted
    /// Terminal: a failure at or after the promotion, or a rollback that could not finish. An operator must look.
    case failed

    public var description: String { rawValue }

    public var isTerminal: Bool { self == .done || self == .aborted || self == .failed }

    /// Steps the executor performs on the way forward, in order.
    /// The steps after the promotion: a failure there leaves the new primary serving, and
    /// `resume` does the step again.
    public static let afterPromotion: [ChangeoverStep] = [.repoint, .verify, .settle]

    public static let forward: [ChangeoverStep] = [
        .preflight, .provision, .catchUp, .awaitWindow, .fence, .finalSync, .promote, .repoint, .verify, .settle,
    ]

    /// Whether a failure in this step can still be undone by restoring the old primary.
    public var rollsBackOnFailure: Bool {
        switch self {
        case .provision, .catchUp, .awaitWindow, .fence, .finalSync: true
        default: false
        }
    }

    /// What the step does to a database of `engine`, for `plan`: in that engine's words where
    /// the two differ.
    public func summary(for engine: DatabaseConfig.EngineKind) -> String {
        guard engine == .redis else { return summary }
        return switch self {
        case .provision: "start a replica on the new image (REPLICAOF the primary) and let it sync"
        case .catchUp:
            "wait until the replica's link is up, no sync is in progress and its offset stays near the primary's"
        case .fence: "pause the router, CLIENT PAUSE WRITE on the old primary; read its replication offset"
        case .finalSync: "wait until the replica's offset equals the old primary's"
        case .promote: "REPLICAOF NO ONE on the replica (point of no return)"
        case .settle:
            "make the old primary a replica of the new one (kept until retireAfter), CONFIG REWRITE, record the new primary"
        case .rollback: "remove the replica, unpause the old primary"
        default: summary
        }
    }

    /// What the step does, for `plan` and the transition table printout.
    public var summary: String {
        switch self {
        case .pending: "recorded, not started"
        case .preflight: "check the primary, replication, the images and the provisioner; touch nothing"
        case .provision: "reserve a replication slot, base-backup a follower on the new image, start it"
        case .catchUp: "wait until the follower's lag stays under the thresholds"
        case .awaitWindow:
            "wait until the maintenance window is open with room for the switchover (or a deadline forces it), keeping the follower caught up; at once with --now"
        case .fence:
            "pause the router, stop the old primary taking writes (Postgres: CHECKPOINT first, then a fast shutdown; Redis: CLIENT PAUSE WRITE); read its final position"
        case .finalSync:
            "wait until the follower has everything up to the final position (Postgres: replayed past the shutdown checkpoint; Redis: the same replication offset)"
        case .promote: "promote the follower (point of no return)"
        case .repoint: "point the router at the new primary and resume it"
        case .verify: "make a real write on the new primary"
        case .settle:
            "retire what the old primary held (Postgres: release the slot, keep it stopped for rollback; Redis: keep it as a replica until retireAfter), record the new primary"
        case .rollback:
            "remove the follower, let the old primary take writes again (restart or unpause), release the slot"
        case .done: "changed over"
        case .aborted: "rolled back; the old primary serves"
        case .failed: "stopped after the point of no return; needs an operator"
        }
    }
}

extension ChangeoverStep {
    /// A step of the forward path after the await-window step: the switchover has begun, and
    /// only `resume` finishes it (or rolls it back).
    public var isSwitchingOver: Bool {
        guard let index = Self.forward.firstIndex(of: self) else { return false }
        return index > Self.forward.firstIndex(of: .awaitWindow)!
    }
}
