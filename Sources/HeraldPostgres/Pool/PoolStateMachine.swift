import DequeModule

/// The decisions of a bounded connection pool, as a value type without I/O.
///
/// Connections are numbered slots. A lease takes an idle slot (the most recently used one,
/// so a few connections stay warm), or creates one while fewer than `maximum` exist, or
/// waits, unless `maximumWaiters` wait already (then it is refused: overflow is an error,
/// not growth). A release hands the slot straight to the longest waiter; a waiter whose
/// time runs out leaves the queue (`timeOut`). The pool acts on the actions these methods
/// return, outside its lock.
struct PoolStateMachine<Waiter> {
    /// What a lease should do.
    enum LeaseAction {
        /// Use this idle slot.
        case use(Int)
        /// Create this new slot and use it.
        case create(Int)
        /// The waiter was queued under this id; a release will hand it a slot.
        case wait(Int)
        /// Too many wait already.
        case overloaded
        /// The pool is shut down.
        case shutdown
    }

    /// What a release should do.
    enum ReleaseAction {
        /// Give the slot to this waiter.
        case handOver(Int, Waiter)
        /// Nothing: the slot is idle now.
        case none
        /// The pool is shut down: close the slot.
        case close(Int)
    }

    /// The most connections the pool opens.
    let maximum: Int
    /// The most callers that may wait for a connection.
    let maximumWaiters: Int
    private var created = 0
    private var idle: [Int] = []
    private var waiters: Deque<(id: Int, waiter: Waiter)> = []
    private var nextWaiterID = 0
    private var isShutdown = false

    /// Creates a pool of at most `maximum` connections and `maximumWaiters` waiters.
    init(maximum: Int, maximumWaiters: Int = 10_000) {
        precondition(maximum > 0, "a pool needs at least one connection")
        self.maximum = maximum
        self.maximumWaiters = maximumWaiters
    }

    /// The number of callers waiting for a connection.
    var waiting: Int { self.waiters.count }

    /// The number of slots that exist.
    var size: Int { self.created }

    mutating func lease(_ waiter: Waiter) -> LeaseAction {
        if self.isShutdown { return .shutdown }
        if let slot = self.idle.popLast() { return .use(slot) }
        if self.created < self.maximum {
            self.created += 1
            return .create(self.created - 1)
        }
        guard self.waiters.count < self.maximumWaiters else { return .overloaded }
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        self.waiters.append((id, waiter))
        return .wait(id)
    }

    mutating func release(_ slot: Int) -> ReleaseAction {
        if self.isShutdown { return .close(slot) }
        if let (_, waiter) = self.waiters.popFirst() { return .handOver(slot, waiter) }
        self.idle.append(slot)
        return .none
    }

    /// The waiter `id` waited too long: it leaves the queue (returned, to be failed), unless
    /// it was handed a slot already.
    mutating func timeOut(_ id: Int) -> Waiter? {
        guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return self.waiters.remove(at: index).waiter
    }

    /// Shuts the pool down; returns the waiters to fail and the idle slots to close.
    mutating func shutdown() -> (waiters: [Waiter], idle: [Int]) {
        guard !self.isShutdown else { return ([], []) }
        self.isShutdown = true
        defer {
            self.waiters.removeAll()
            self.idle.removeAll()
        }
        return (self.waiters.map(\.waiter), self.idle)
    }
}
