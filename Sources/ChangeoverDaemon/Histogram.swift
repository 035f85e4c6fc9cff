/// A Prometheus histogram's figures: cumulative counts per upper bound, the sum and the count.
struct Histogram: Sendable, Equatable {
    /// Upper bounds, ascending; `+Inf` is implied.
    let bounds: [Double]
    private(set) var counts: [Int]
    private(set) var sum: Double = 0
    private(set) var count = 0

    init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    mutating func observe(_ value: Double) {
        for index in bounds.indices where value <= bounds[index] { counts[index] += 1 }
        sum += value
        count += 1
    }

    /// Write pauses: tens of milliseconds when all is well, seconds when something waits.
    static let pauseBounds: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    /// Steps: from milliseconds (promote) to hours (a base backup, a wait for the window).
    static let stepBounds: [Double] = [0.01, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 14_400, 86_400]
    /// A tick: milliseconds when nothing is due, seconds when many schedule entries are recorded.
    static let tickBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
}
