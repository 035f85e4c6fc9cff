/// What kind of failure ended an operation, for a program to act on: `changeover` exits with
/// the raw value (0 is success; the README lists them).
public enum FailureCode: Int32, Sendable, CaseIterable {
    /// The input is wrong (a config, an argument, a secret, a request the state refuses); nothing
    /// was touched.
    case badInput = 2
    /// A changeover's preflight found the database unfit; nothing was provisioned.
    case preflight = 3
    /// A changeover failed and was rolled back; the old primary serves.
    case aborted = 4
    /// A changeover failed after its point of no return, or anything else failed: an operator
    /// must look.
    case failed = 5
    /// The audit log does not verify.
    case audit = 6
    /// Another controller holds the database.
    case busy = 7
    /// Stopped (SIGTERM, SIGINT) before the switchover; `resume` continues it.
    case stopped = 8
}

/// An error that says which kind of failure it is. An error that does not is `.failed`.
public protocol CodedFailure: Error {
    var failureCode: FailureCode { get }
}

extension FailureCode {
    /// The kind of failure `error` is.
    public static func of(_ error: any Error) -> FailureCode {
        (error as? any CodedFailure)?.failureCode ?? .failed
    }
}

extension ConfigError: CodedFailure {
    public var failureCode: FailureCode { .badInput }
}

extension ChangeoverRefused: CodedFailure {
    public var failureCode: FailureCode { .badInput }
}

extension DatabaseBusy: CodedFailure {
    public var failureCode: FailureCode { .busy }
}

extension DatabaseLeased: CodedFailure {
    public var failureCode: FailureCode { .busy }
}
