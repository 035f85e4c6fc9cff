import Foundation

extension FleetCheck {
    /// Each database's preflight, at most `parallel` at once, in the order of `names`: one
    /// finding a database, passed when all its checks did, else naming the checks that failed.
    public static func preflight(_ names: [String], runner: ChangeoverRunner, parallel: Int) async -> [FleetCheck] {
        await withTaskGroup(of: (Int, FleetCheck).self) { group in
            var results: [FleetCheck?] = Array(repeating: nil, count: names.count)
            var next = 0
            func add() {
                let index = next
                let name = names[index]
                next += 1
                group.addTask {
                    do {
                        let checks = try await runner.preflight(database: name)
                        let failed = checks.filter { !$0.passed }
                        return (
                            index,
                            FleetCheck(
                                .preflight, name, passed: failed.isEmpty,
                                failed.isEmpty
                                    ? "\(checks.count) checks passed (\(checks.map(\.name).joined(separator: ", ")))"
                                    : failed.map { "\($0.name): \($0.detail)" }.joined(separator: "; "))
                        )
                    } catch {
                        let text = String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
                        return (index, FleetCheck(.preflight, name, passed: false, text))
                    }
                }
            }
            while next < min(parallel, names.count) { add() }
            for await (index, check) in group {
                results[index] = check
                if next < names.count { add() }
            }
            return results.compactMap { $0 }
        }
    }
}
