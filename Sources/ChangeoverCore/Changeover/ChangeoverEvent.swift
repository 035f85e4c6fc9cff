/// What a changeover tells its watcher as it goes.
public enum ChangeoverEvent: Sendable {
    case started(id: String, database: String, from: String, to: String)
    case stepStarted(ChangeoverStep)
    case checks([PreflightCheck])
    case progress(String)
    /// A remote call failed transiently and will be tried again.
    case retry(RetryNote)
    case stepFinished(ChangeoverStep, milliseconds: Double, error: String?)
    /// The controller stopped in this step before the switchover (a signal, or `prepare` is done).
    case stopped(ChangeoverStep, reason: String)
    /// A notice went to the notify targets; `failure` says which did not take it (a warning:
    /// the changeover goes on as if it had).
    case notified(NotifyEvent, failure: String?)
}
