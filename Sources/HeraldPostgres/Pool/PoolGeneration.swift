import Synchronization

/// Which of a pool's connections are still to be used: those made since the pool last
/// found its server read-only.
///
/// A server turns read-only without closing its connections: a primary fenced with
/// `default_transaction_read_only`, or (behind a proxy or a DNS name) a host that now
/// answers as a standby. The first statement answered SQLSTATE `25006` there starts a new
/// generation. Every connection of an older one is then closed (now when idle, else when
/// its transaction ends) and replaced when next used, through the connection string
/// (whose `target_session_attrs` skips the read-only server), instead of each failing a
/// statement of its own first. Pools to one database may share a generation.
final class PoolGeneration: Sendable {
    private let current = Atomic<Int>(0)
    private let sweeps = Mutex<[@Sendable () -> Void]>([])

    /// The generation new connections belong to.
    var value: Int { self.current.load(ordering: .acquiring) }

    /// Calls `sweep` after each retirement: it closes what it holds of older generations.
    func onRetire(_ sweep: @escaping @Sendable () -> Void) {
        self.sweeps.withLock { $0.append(sweep) }
    }

    /// Retires the connections of `generation` and older, once however many of them report it.
    func retire(_ generation: Int) {
        guard self.current.compareExchange(expected: generation, desired: generation + 1, ordering: .acquiringAndReleasing).exchanged else {
            return
        }
        self.sweep()
    }

    /// Retires every connection made so far.
    func retireAll() {
        self.current.add(1, ordering: .acquiringAndReleasing)
        self.sweep()
    }

    private func sweep() {
        for sweep in self.sweeps.withLock({ $0 }) { sweep() }
    }
}
