import ChangeoverCore

/// A one-line error and the exit code that goes with it.
package struct Failure: Error {
    /// The exit status: Core's kinds of failure (see `FailureCode`).
    package typealias Kind = FailureCode
    package var kind: Kind
    package var message: String
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
