import Testing

@testable import ChangeoverCore

@Suite struct FailureCodeTests {
    @Test func theExitStatusesAreTheOnesTheReadmeLists() {
        #expect(FailureCode.allCases.map(\.rawValue) == [2, 3, 4, 5, 6, 7, 8])
    }

    @Test func eachErrorSaysItsKindAndAnyOtherIsAFailure() {
        struct Unknown: Error {}
        #expect(FailureCode.of(ConfigError("databases.orders: no primary")) == .badInput)
        #expect(FailureCode.of(ChangeoverRefused(description: "database orders already runs pg15")) == .badInput)
        #expect(FailureCode.of(DatabaseBusy(database: "orders", holder: nil)) == .busy)
        #expect(FailureCode.of(Unknown()) == .failed)
        #expect(FailureCode.of(EngineError("the follower is no longer a replica")) == .failed)
    }
}
