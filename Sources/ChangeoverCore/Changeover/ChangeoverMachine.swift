/// The changeover state machine: a value with no I/O and no clock. Each input returns the
/// action an executor performs next; every change is checked against `transitions`.
public struct ChangeoverMachine: Sendable, Codable, Equatable {
    public private(set) var step: ChangeoverStep
    /// The step that failed and why, once something failed.
    public private(set) var failedStep: ChangeoverStep?
    public private(set) var failure: String?
    /// Failed because the rollback could not finish (the old primary unreachable, say): `abort`
    /// or `resume` tries the rollback again. Absent in records written before it existed.
    public private(set) var rollbackUnfinished: Bool?

    public init(
        step: ChangeoverStep = .pending, failedStep: ChangeoverStep? = nil, failure: String? = nil,
        rollbackUnfinished: Bool? = nil
    ) {
        self.step = step
        self.failedStep = failedStep
        self.failure = failure
        self.rollbackUnfinished = rollbackUnfinished
    }

    /// Whether `abort` or `resume` can still do something: not ended, or a rollback to finish.
    public var canContinue: Bool { !step.isTerminal || rollbackUnfinished == true }

    public enum Event: Sendable, Equatable {
        case begin
        case stepSucceeded
        case stepFailed(String)
        /// The promotion failed before it was requested (the follower was gone): still safe to roll back.
        case promotionNotRequested(String)
        /// An operator asked to roll back (`changeover abort`).
        case abortRequested(String)
        /// A controller picks up a changeover another one left (`changeover resume`); `promoted`
        /// is what it observed of the follower.
        case resumed(promoted: Bool)
    }

    public enum Outcome: String, Sendable, Codable {
        case completed, aborted, failed
        /// Not an end: the controller stopped before the switchover (a signal, or `prepare` is
        /// done) and the changeover waits in its step for `resume` or `switch`. Only the executor
        /// reports it; the machine never finishes with it.
        case stopped
    }

    public enum Action: Sendable, Equatable {
        case perform(ChangeoverStep)
        /// Undo what the steps up to `failedStep` did, then report `.stepSucceeded` or `.stepFailed`.
        case rollBack(failedStep: ChangeoverStep, reason: String)
        case finish(Outcome)
    }

    public struct IllegalTransition: Error, CustomStringConvertible, Sendable {
        public var from: ChangeoverStep
        public var event: String
        public var description: String { "no transition from \(from) on \(event)" }
    }

    public mutating func handle(_ event: Event) throws(IllegalTransition) -> Action {
        switch (step, event) {
        case (.pending, .begin):
            try move(to: .preflight, on: .success)
            return .perform(.preflight)
        case (.rollback, .stepSucceeded):
            rollbackUnfinished = nil
            try move(to: .aborted, on: .success)
            return .finish(.aborted)
        case (.rollback, .stepFailed(let reason)):
            let before = failure.map { $0.components(separatedBy: "; rollback failed: ").first ?? $0 } ?? ""
            failure = "\(before); rollback failed: \(reason)"
            rollbackUnfinished = true
            try move(to: .failed, on: .failure)
            return .finish(.failed)
        case (.failed, .abortRequested), (.failed, .resumed):
            guard rollbackUnfinished == true else {
                // A step past the promotion that failed (its host unreachable, say) is done again:
                // the new primary serves either way, and every step is idempotent.
                if case .resumed = event, let failedStep, ChangeoverStep.afterPromotion.contains(failedStep) {
                    try move(to: failedStep, on: .resume)
                    return .perform(failedStep)
                }
                if case .resumed = event { return .finish(.failed) }
                throw IllegalTransition(from: step, event: String(describing: event))
            }
            try move(to: .rollback, on: { if case .resumed = event { return .resume } else { return .abort } }())
            return .rollBack(failedStep: failedStep ?? .rollback, reason: failure ?? "an unfinished rollback")
        case (let current, .stepSucceeded) where ChangeoverStep.forward.contains(current):
            let index = ChangeoverStep.forward.firstIndex(of: current)!
            let next = index + 1 < ChangeoverStep.forward.count ? ChangeoverStep.forward[index + 1] : .done
            try move(to: next, on: .success)
            return next == .done ? .finish(.completed) : .perform(next)
        case (let current, .stepFailed(let reason)) where ChangeoverStep.forward.contains(current):
            failedStep = current
            failure = reason
            if current == .preflight {
                try move(to: .aborted, on: .failure)
                return .finish(.aborted)
            }
            if current.rollsBackOnFailure {
                try move(to: .rollback, on: .failure)
                return .rollBack(failedStep: current, reason: reason)
            }
            try move(to: .failed, on: .failure)
            return .finish(.failed)
        case (.promote, .promotionNotRequested(let reason)):
            failedStep = .promote
            failure = reason
            try move(to: .rollback, on: .failure)
            return .rollBack(failedStep: .promote, reason: reason)
        case (.pending, .abortRequested(let reason)), (.preflight, .abortRequested(let reason)):
            failedStep = step
            failure = reason
            try move(to: .aborted, on: .abort)
            return .finish(.aborted)
        case (let current, .abortRequested(let reason)) where current.rollsBackOnFailure:
            failedStep = current
            failure = reason
            try move(to: .rollback, on: .abort)
            return .rollBack(failedStep: current, reason: reason)
        case (.rollback, .abortRequested), (.rollback, .resumed):
            return .rollBack(failedStep: failedStep ?? .rollback, reason: failure ?? "interrupted during rollback")
        case (.pending, .resumed):
            return try handle(.begin)
        case (let current, .resumed(let promoted)) where current == .finalSync || current == .promote:
            // The final position read before the interruption proves nothing now (a Redis pause
            // may have expired): fence again. Once the follower was promoted, only forward.
            if promoted {
                if current == .finalSync { try move(to: .promote, on: .resume) }
                return .perform(.promote)
            }
            try move(to: .fence, on: .resume)
            return .perform(.fence)
        case (let current, .resumed) where ChangeoverStep.forward.contains(current):
            return .perform(current)  // every step is idempotent against what it finds
        case (let current, .resumed) where current.isTerminal:
            return .finish(current == .done ? .completed : current == .aborted ? .aborted : .failed)
        default:
            throw IllegalTransition(from: step, event: String(describing: event))
        }
    }

    private mutating func move(to next: ChangeoverStep, on trigger: Transition.Trigger) throws(IllegalTransition) {
        guard Self.transitions.contains(where: { $0.from == step && $0.to == next && $0.trigger == trigger }) else {
            throw IllegalTransition(from: step, event: "\(trigger) to \(next)")
        }
        step = next
    }
}

/// One allowed move, with the reason it exists. The table is the law: `ChangeoverMachine`
/// refuses any move not listed, the tests walk it, and `changeover steps` prints it.
public struct Transition: Sendable, Equatable {
    public enum Trigger: String, Sendable { case success, failure, abort, resume }
    public var from: ChangeoverStep
    public var to: ChangeoverStep
    public var trigger: Trigger
    public var note: String
}

extension ChangeoverMachine {
    public static let transitions: [Transition] = [
        .init(from: .pending, to: .preflight, trigger: .success, note: "the operator asked for a changeover"),
        .init(from: .preflight, to: .provision, trigger: .success, note: "every check passed"),
        .init(from: .preflight, to: .aborted, trigger: .failure, note: "a check failed; nothing was touched"),
        .init(from: .provision, to: .catchUp, trigger: .success, note: "the follower streams from the slot"),
        .init(from: .provision, to: .rollback, trigger: .failure, note: "remove the partial follower and the slot"),
        .init(from: .catchUp, to: .awaitWindow, trigger: .success, note: "lag held under the thresholds"),
        .init(
            from: .catchUp, to: .rollback, trigger: .failure,
            note: "timeout or lost follower: the primary was never touched"),
        .init(
            from: .awaitWindow, to: .fence, trigger: .success,
            note:
                "the window is open with room for the switchover (or a deadline forced it, or --now) and the follower is still caught up"
        ),
        .init(
            from: .awaitWindow, to: .rollback, trigger: .failure,
            note:
                "the follower fell behind or died while waiting, or no window can ever fit: the primary was never touched"
        ),
        .init(
            from: .fence, to: .finalSync, trigger: .success,
            note: "the old primary takes no writes; its final position is known"),
        .init(from: .fence, to: .rollback, trigger: .failure, note: "restart the old primary if it stopped"),
        .init(
            from: .finalSync, to: .promote, trigger: .success,
            note: "the follower has everything up to the final position: nothing can be lost"),
        .init(
            from: .finalSync, to: .rollback, trigger: .failure,
            note: "the follower fell short: the old primary comes back"),
        .init(from: .promote, to: .repoint, trigger: .success, note: "the follower left recovery"),
        .init(
            from: .promote, to: .failed, trigger: .failure, note: "a promotion was requested: only forward from here"),
        .init(
            from: .promote, to: .rollback, trigger: .failure,
            note: "the follower was gone before the promotion was requested"),
        .init(from: .repoint, to: .verify, trigger: .success, note: "clients are sent to the new primary"),
        .init(
            from: .repoint, to: .failed, trigger: .failure,
            note: "the new primary serves but clients were not repointed"),
        .init(from: .verify, to: .settle, trigger: .success, note: "a real write committed on the new primary"),
        .init(from: .verify, to: .failed, trigger: .failure, note: "the new primary did not take a write"),
        .init(from: .settle, to: .done, trigger: .success, note: "slot released, old primary kept stopped"),
        .init(from: .settle, to: .failed, trigger: .failure, note: "the new primary serves; cleanup needs an operator"),
        .init(
            from: .rollback, to: .aborted, trigger: .success,
            note: "the old primary serves, the follower and slot are gone"),
        .init(
            from: .rollback, to: .failed, trigger: .failure,
            note: "the rollback could not finish (the old primary unreachable): abort or resume tries it again"),
        .init(
            from: .failed, to: .rollback, trigger: .abort,
            note: "the operator aborted again: finish the rollback that could not finish"),
        .init(
            from: .failed, to: .rollback, trigger: .resume,
            note: "resumed after a rollback that could not finish: finish it"),
        .init(from: .failed, to: .repoint, trigger: .resume, note: "resumed after the repoint failed: repoint again"),
        .init(from: .failed, to: .verify, trigger: .resume, note: "resumed after the verify failed: verify again"),
        .init(
            from: .failed, to: .settle, trigger: .resume,
            note: "resumed after the settle failed (the old primary's host unreachable): settle again"),
        .init(from: .pending, to: .aborted, trigger: .abort, note: "the operator aborted before anything ran"),
        .init(from: .preflight, to: .aborted, trigger: .abort, note: "the operator aborted; preflight touches nothing"),
        .init(
            from: .provision, to: .rollback, trigger: .abort,
            note: "the operator aborted: remove the follower and the slot"),
        .init(
            from: .catchUp, to: .rollback, trigger: .abort,
            note: "the operator aborted: remove the follower and the slot"),
        .init(
            from: .awaitWindow, to: .rollback, trigger: .abort,
            note: "the operator aborted while it waited for the window: remove the follower and the slot"),
        .init(from: .fence, to: .rollback, trigger: .abort, note: "the operator aborted: the old primary comes back"),
        .init(
            from: .finalSync, to: .rollback, trigger: .abort, note: "the operator aborted: the old primary comes back"),
        .init(
            from: .finalSync, to: .fence, trigger: .resume,
            note: "resumed before the promotion: fence again for a fresh final position"),
        .init(
            from: .promote, to: .fence, trigger: .resume, note: "resumed and the follower was not promoted: fence again"
        ),
        .init(
            from: .finalSync, to: .promote, trigger: .resume,
            note: "resumed and the follower was already promoted: only forward"),
    ]
}
