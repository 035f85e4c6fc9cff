/// A one-line error and the exit code that goes with it.
package struct Failure: Error {
    package enum Kind: Int32 {
        case badInput = 2, preflight = 3, aborted = 4, failed = 5, audit = 6, busy = 7, stopped = 8
    }
    package var kind: Kind
    package var message: String
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
