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

print("changeover benchmark: \(count) Postgres changeovers, writer reconnecting through a libpq multi-host conninfo")
print("(target_session_attrs=read-write); pause = longest gap between two acknowledged commits.")
print()
let scenario = try await LabScenario.start(database: "bench", changeovers: count)
var writerPauses: [Double] = []
var controllerPauses: [Double] = []
var totals: [Double] = []
var failures = 0
print("   #  writer pause ms  controller pause ms  stop ms  controldata ms  promote ms  total s  outcome")
do {
    for index in 0..<count {
        let began = ContinuousClock.now
        let summary = try await scenario.changeover(index)
        try await scenario.writer.waitForAcknowledgements(200)
        let pause = await scenario.writer.longestGap(since: began)
        writerPauses.append(pause)
        controllerPauses.append(summary.writePauseMilliseconds ?? .nan)
        totals.append(summary.totalMilliseconds / 1000)
        if summary.outcome != .completed { failures += 1 }
        let fact = { (key: String) in Double(summary.facts[key] ?? "") ?? .nan }
        print(String(format: "%4d  %15.1f  %19.1f  %7.1f  %14.1f  %10.1f  %7.2f  ", index + 1, pause,
                     summary.writePauseMilliseconds ?? .nan, fact("stop.ms"), fact("controldata.ms"), fact("promote.ms"),
                     summary.totalMilliseconds / 1000) + summary.outcome.rawValue)
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
let header = ["engine", "router", "runs", "write pause p50", "p90", "max", "controller p50", "lost writes", "changeover p50"]
let row = ["postgres", "libpq multi-host", String(writerPauses.count),
           String(format: "%.1f ms", percentile(writerPauses, 50)), String(format: "%.1f ms", percentile(writerPauses, 90)),
           String(format: "%.1f ms", writerPauses.max() ?? .nan), String(format: "%.1f ms", percentile(controllerPauses, 50)),
           String(missing.count), String(format: "%.2f s", percentile(totals, 50))]
let widths = zip(header, row).map { max($0.count, $1.count) }
func line(_ cells: [String]) -> String {
    "| " + zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: " | ") + " |"
}
print(line(header))
print("|" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "|") + "|")
print(line(row))
print()
print("acknowledged commits: \(report.acknowledged.count), lost: \(missing.count), failed changeovers: \(failures)")
exit(failures == 0 && missing.isEmpty ? 0 : 1)
