// The write-pause benchmark: N changeovers of a throwaway primary under a steady writer that
// records every acknowledged commit. Prints a table; asserts nothing. `make bench` runs it.
import ChangeoverCore
import ChangeoverLab
import Foundation
import PostgresClient

let arguments = CommandLine.arguments.dropFirst()
let count = arguments.first.flatMap(Int.init) ?? 5

func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count - 1)).rounded())
    return sorted[rank]
}

func cell(_ value: Double) -> String { String(format: "%8.1f", value) }

print("changeover benchmark: \(count) Postgres changeovers, writer reconnecting through a libpq multi-host conninfo")
print("(target_session_attrs=read-write); pause = longest gap between two acknowledged commits.")
print()
let scenario = try await LabScenario.start(database: "bench", changeovers: count)
var writerPauses: [Double] = []
var controllerPauses: [Double] = []
var totals: [Double] = []
var failures = 0
print("   #  writer pause ms  controller pause ms  total s  outcome")
do {
    for index in 0..<count {
        let before = await scenario.writer.stop()
        await scenario.writer.start()
        _ = before
        let summary = try await scenario.changeover(index)
        try await scenario.writer.waitForAcknowledgements(200)
        let report = await scenario.writer.stop()
        await scenario.writer.start()
        writerPauses.append(report.longestGapMilliseconds)
        controllerPauses.append(summary.writePauseMilliseconds ?? .nan)
        totals.append(summary.totalMilliseconds / 1000)
        if summary.outcome != .completed { failures += 1 }
        print(String(format: "%4d  %15@  %19@  %7.2f  %@", index + 1, cell(report.longestGapMilliseconds) as NSString,
                     cell(summary.writePauseMilliseconds ?? .nan) as NSString, summary.totalMilliseconds / 1000,
                     summary.outcome.rawValue as NSString))
    }
} catch {
    print("benchmark failed: \(error)")
    failures += 1
}
let report = await scenario.writer.stop()
let connection = try await scenario.lab.connect(try scenario.currentPrimary())
let missing = try await AckedWriter.missing(report.acknowledged, on: connection)
connection.close()
await scenario.lab.shutdown()

print()
print("| engine   | router         | runs | write pause p50 | p90      | max      | controller p50 | lost writes | changeover total p50 |")
print("|----------|----------------|------|-----------------|----------|----------|----------------|-------------|----------------------|")
print(String(format: "| postgres | libpq multi-host | %4d | %12.1f ms | %5.1f ms | %5.1f ms | %11.1f ms | %11d | %17.2f s |",
             writerPauses.count, percentile(writerPauses, 50), percentile(writerPauses, 90), writerPauses.max() ?? .nan,
             percentile(controllerPauses, 50), missing.count, percentile(totals, 50)))
print()
print("acknowledged commits: \(report.acknowledged.count), lost: \(missing.count), failed changeovers: \(failures)")
exit(failures == 0 && missing.isEmpty ? 0 : 1)
