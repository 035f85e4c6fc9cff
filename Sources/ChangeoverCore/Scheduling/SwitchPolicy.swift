import Foundation

/// When a changeover may cut over once its follower has caught up. Stored with the changeover
/// (`ChangeoverRecord.policy`), so that a resumed changeover honours what was asked.
public struct SwitchPolicy: Sendable, Codable, Equatable {
    public enum Mode: String, Sendable, Codable {
        /// Switch as soon as the follower has caught up (`run --now`, `switch --now`).
        case now
        /// Switch inside the database's next maintenance window with room for the switchover,
        /// or at the deadline if none opens before it (`run --in-window`, `schedule`, the daemon).
        case window
        /// Never switch: stop once the follower has caught up and keep it (`prepare`); `switch`
        /// decides when.
        case hold
    }

    public var mode: Mode
    /// With `window`: if no fitting window opens before this instant, the switchover is forced
    /// then, and the audit log says so.
    public var deadline: Date?

    public init(mode: Mode, deadline: Date? = nil) {
        self.mode = mode
        self.deadline = deadline
    }

    /// What changeovers recorded before policies existed did: switch at once.
    public static let now = SwitchPolicy(mode: .now)
}

/// Why a changeover's controller stopped before the switchover, leaving it resumable.
public struct StopNote: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// A signal (SIGTERM, SIGINT) stopped the controller during provision, catch-up or the
        /// wait for the window; `resume` (or the daemon's next start) continues.
        case stopped
        /// `prepare` is done: the follower has caught up and keeps streaming; `switch` cuts over.
        case prepared
    }

    public var kind: Kind
    public var reason: String
    /// The step the changeover stopped in; `resume` performs it again.
    public var step: ChangeoverStep
    /// Who stopped: "user@host pid N", with " (daemon)" for the daemon.
    public var by: String
    /// Whether the daemon stopped it (the daemon picks its own up again when it starts).
    public var daemon: Bool
    public var at: Date

    public init(kind: Kind, reason: String, step: ChangeoverStep, by: String, daemon: Bool, at: Date) {
        self.kind = kind
        self.reason = reason
        self.step = step
        self.by = by
        self.daemon = daemon
        self.at = at
    }
}

/// Thrown inside a step when the controller was asked to stop (or `prepare` is done): the
/// executor records the changeover as stopped in that step instead of failing it.
public struct ChangeoverStopped: Error, CustomStringConvertible, Sendable {
    public var kind: StopNote.Kind
    public var reason: String
    public var description: String { reason }

    public init(_ kind: StopNote.Kind, _ reason: String) {
        self.kind = kind
        self.reason = reason
    }
}
