/// A changeover that cannot be resumed or aborted as asked.
public struct ChangeoverRefused: Error, CustomStringConvertible, Sendable {
    public var description: String
}
