import ChangeoverCore
import Foundation
import UnixSignals

enum Signals {
    /// From now on SIGTERM and SIGINT ask the returned signal to stop: a changeover before its
    /// switchover stops in a resumable state (exit 8); one inside it finishes, or rolls back,
    /// first. Returns once the handlers are installed.
    static func stopOnTermination() async -> StopSignal {
        let stop = StopSignal()
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        Task {
            for await signal in signals {
                FileHandle.standardError.write(
                    Data(
                        "changeover: \(signal) received: stopping before the switchover (a switchover that began is finished first)\n"
                            .utf8))
                stop.request("\(signal) received")
            }
        }
        return stop
    }
}
