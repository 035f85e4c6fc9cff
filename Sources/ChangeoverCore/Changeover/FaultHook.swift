/// Called by the executor at every step boundary, so that a test can crash or stall the
/// controller at an exact instant and prove that `resume` picks up from there. The product
/// installs none; nothing in the executor reads the environment for it.
public struct FaultHook: Sendable {
    /// An instant in a step's life the executor reports.
    public enum Boundary: Sendable, Equatable, CustomStringConvertible {
        /// The step's start is recorded (audited, and the record saved); it has not acted yet.
        case before(ChangeoverStep)
        /// The step's action returned (or threw); its outcome is not recorded yet.
        case after(ChangeoverStep)

        public var description: String {
            switch self {
            case .before(let step): "before \(step)"
            case .after(let step): "after \(step)"
            }
        }
    }

    public var strike: @Sendable (Boundary) -> Void

    public init(_ strike: @escaping @Sendable (Boundary) -> Void) {
        self.strike = strike
    }

    /// The hook the product runs with: does nothing.
    public static let none = FaultHook { _ in }

    func callAsFunction(_ boundary: Boundary) { strike(boundary) }
}
