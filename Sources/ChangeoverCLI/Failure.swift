/// A one-line error and the exit code that goes with it.
package struct Failure: Error {
    package enum Kind: Int32 {
        case badInput = 2
        case preflight = 3
        case aborted = 4
        case failed = 5
        case audit = 6
        case busy = 7
        case stopped = 8
    }
    package var kind: Kind
    package var message: String
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}
