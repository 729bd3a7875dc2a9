import Synchronization

/// A turn taken from `Turns`, given back once: by `end()`, or when the last reference to
/// it goes, whichever comes first.
public final class Turn: Sendable {
    private let turns: Turns
    private let ended = Atomic<Bool>(false)

    init(_ turns: Turns) {
        self.turns = turns
    }

    deinit { self.end() }

    /// Gives the turn back (later calls do nothing); from any thread.
    public func end() {
        guard !self.ended.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.turns.giveBack()
    }
}
