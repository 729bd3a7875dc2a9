import Synchronization

/// Whether a publish has been answered: the first answer is sent, any later one dropped.
final class AnsweredOnce: Sendable {
    private let done = Atomic<Bool>(false)

    /// True the first time only.
    func claim() -> Bool {
        !self.done.exchange(true, ordering: .acquiringAndReleasing)
    }
}
