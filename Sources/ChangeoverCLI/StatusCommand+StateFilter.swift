import ArgumentParser
import ChangeoverCore

extension StatusCommand {
    /// `--state`: which changeovers the list and the pending view show.
    enum StateFilter: String, ExpressibleByArgument, CaseIterable {
        case running, scheduled, stopped, failed, ended

        func matches(_ report: Report) -> Bool {
            switch self {
            case .running: report.state == .running
            case .scheduled: report.state == .scheduled
            case .stopped: [.stopped, .prepared, .interrupted].contains(report.state)
            case .failed: report.record.machine.step == .failed || report.state == .rollbackUnfinished
            case .ended: report.record.machine.step.isTerminal
            }
        }
    }
}
