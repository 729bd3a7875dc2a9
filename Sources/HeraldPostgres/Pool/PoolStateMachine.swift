import DequeModule

/// The decisions of a bounded connection pool, as a value type without I/O.
///
/// Connections are numbered slots. A lease takes an idle slot (the most recently used one,
/// so a few connections stay warm), or creates one while fewer than `maximum` exist, or
/// waits, unless `maximumWaiters` wait already (then it is refused: overflow is an error,
/// not growth). A release hands the slot straight to the longest waiter. Every waiter has
/// a deadline, and they come in deadline order (one lease timeout for all), so one timer
/// per pool expires them from the front of the queue (`expire(now:)`); it runs while
/// anyone waits. The pool acts on the actions these methods return, outside its lock.
struct PoolStateMachine<Waiter> {
    /// What a lease should do.
    enum LeaseAction {
        /// Use this idle slot.
        case use(Int)
        /// Create this new slot and use it.
        case create(Int)
        /// The waiter was queued; a release will hand it a slot, or its deadline passes.
        /// With `startTimer`, no timer runs: start one that calls `expire(now:)`.
        case wait(startTimer: Bool)
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
    private var waiters: Deque<(waiter: Waiter, deadline: ContinuousClock.Instant)> = []
    /// Whether a timer calls `expire(now:)`.
    private var isTiming = false
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

    /// The number of connections leased now.
    var inUse: Int { self.created - self.idle.count }

    /// A connection for `waiter`, who waits at most until `deadline` (later than every
    /// earlier waiter's).
    mutating func lease(_ waiter: Waiter, deadline: ContinuousClock.Instant) -> LeaseAction {
        if self.isShutdown { return .shutdown }
        if let slot = self.idle.popLast() { return .use(slot) }
        if self.created < self.maximum {
            self.created += 1
            return .create(self.created - 1)
        }
        guard self.waiters.count < self.maximumWaiters else { return .overloaded }
        self.waiters.append((waiter, deadline))
        defer { self.isTiming = true }
        return .wait(startTimer: !self.isTiming)
    }

    mutating func release(_ slot: Int) -> ReleaseAction {
        if self.isShutdown { return .close(slot) }
        if let (waiter, _) = self.waiters.popFirst() { return .handOver(slot, waiter) }
        self.idle.append(slot)
        return .none
    }

    /// The waiters whose deadline passed by `now` leave the queue (returned, to be failed);
    /// `next` is when to look again, nil once nobody waits (the timer stops).
    mutating func expire(now: ContinuousClock.Instant) -> (expired: [Waiter], next: ContinuousClock.Instant?) {
        var expired: [Waiter] = []
        while let first = self.waiters.first, first.deadline <= now {
            expired.append(self.waiters.removeFirst().waiter)
        }
        guard let first = self.waiters.first else {
            self.isTiming = false
            return (expired, nil)
        }
        return (expired, first.deadline)
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
