import Foundation
import Synchronization

/// Passes progress lines on to the watcher and keeps the latest in the state store (at most
/// once a second) so that `status` can tell what a running changeover waits for.
final class ProgressWriter: Sendable {
    let store: StateStore
    let changeover: String
    let events: @Sendable (ChangeoverEvent) -> Void
    private let lastWrite = Mutex<ContinuousClock.Instant?>(nil)

    init(store: StateStore, changeover: String, events: @escaping @Sendable (ChangeoverEvent) -> Void) {
        self.store = store
        self.changeover = changeover
        self.events = events
    }

    func callAsFunction(_ text: String) {
        events(.progress(text))
        let now = ContinuousClock.now
        let due = lastWrite.withLock { last -> Bool in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
        if due { store.saveProgress(text, of: changeover) }
    }
}
