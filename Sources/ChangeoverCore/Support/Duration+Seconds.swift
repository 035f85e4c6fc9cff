extension Duration {
    /// The duration in seconds, for printing and JSON.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }

    /// The duration in milliseconds, for printing and JSON.
    public var milliseconds: Double { seconds * 1000 }
}
