import ChangeoverCore
import Foundation

/// One thing the daemon's tick does once it has decided (`DaemonDecision.decide`), carrying
/// what it needs; the tick performs them in order.
enum DaemonAction: Sendable {
    /// Write the audit records a plan made in this look calls for, once each: the changeover
    /// was moved past windows too short for it, or no window will ever fit.
    case announce(ChangeoverRecord, ChangeoverDaemon.CachedPlan)
    /// Send the scheduled changeover's reminder, if one has fallen due.
    case remind(changeover: String)
    /// Claim the database's lease and drive the changeover in a task of its own: a scheduled
    /// one whose provisioning is due, one this daemon stopped, or (`takingOver`) one whose
    /// daemon stopped renewing its lease.
    case launch(ChangeoverRecord, takingOver: Bool)
}

extension DaemonAction: CustomStringConvertible {
    /// "launch orders-…", "remind orders-…": what a test compares.
    var description: String {
        switch self {
        case .announce(let record, _): "announce \(record.id)"
        case .remind(let id): "remind \(id)"
        case .launch(let record, let takingOver): "\(takingOver ? "take over" : "launch") \(record.id)"
        }
    }
}
