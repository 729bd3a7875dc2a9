import Synchronization

/// A stream admitted among its client's (`ClientLimits.admitStream`): its place is given
/// back exactly once, by `release()` when the stream ends, or when the admission is
/// dropped unused (a stream that never started: its connection closed first).
public final class StreamAdmission: Sendable {
    /// The client id.
    public let client: String
    private let limits: ClientLimits
    private let released = Atomic<Bool>(false)

    init(client: String, limits: ClientLimits) {
        self.client = client
        self.limits = limits
    }

    /// Gives the place back (once; later calls do nothing).
    public func release() {
        guard !self.released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        self.limits.releaseStream(client: self.client)
    }

    deinit {
        self.release()
    }
}
