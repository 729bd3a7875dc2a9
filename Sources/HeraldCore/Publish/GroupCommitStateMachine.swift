import DequeModule

/// The decisions of the group-commit publisher, as a value type without I/O.
///
/// Requests queue up; a committer takes everything queued (up to a number of items) as
/// one batch, so while one transaction is in flight the next batch fills. A request is
/// never split across batches, which keeps a batch request atomic. Idle committers park
/// and are woken by the next request.
struct GroupCommitStateMachine<Request, Committer> {
    /// What `submit` asks the caller to do.
    enum SubmitAction {
        /// Resume this parked committer: there is work.
        case wake(Committer)
        /// Nothing: a busy committer will take the request.
        case none
        /// The publisher is shutting down; refuse the request.
        case reject
    }

    /// What `park` asks the caller to do.
    enum ParkAction {
        /// Wait: the committer was parked and will be resumed.
        case parked
        /// Do not wait: there is work.
        case work
        /// Do not wait: stop, the publisher has shut down and the queue is empty.
        case stop
    }

    private var queue: Deque<(request: Request, items: Int)> = []
    private var parked: [Committer] = []
    private var isShuttingDown = false

    /// The requests waiting for a batch.
    var queuedRequests: Int { self.queue.count }

    mutating func submit(_ request: Request, items: Int) -> SubmitAction {
        guard !self.isShuttingDown else { return .reject }
        self.queue.append((request, items))
        if let committer = self.parked.popLast() { return .wake(committer) }
        return .none
    }

    /// Takes the next batch: whole requests, up to `maximumItems` items (a larger request
    /// goes alone). Empty when nothing is queued.
    mutating func nextBatch(maximumItems: Int) -> [Request] {
        var batch: [Request] = []
        var items = 0
        while let first = self.queue.first, batch.isEmpty || items + first.items <= maximumItems {
            batch.append(first.request)
            items += first.items
            self.queue.removeFirst()
        }
        return batch
    }

    mutating func park(_ committer: Committer) -> ParkAction {
        if !self.queue.isEmpty { return .work }
        if self.isShuttingDown { return .stop }
        self.parked.append(committer)
        return .parked
    }

    /// Refuses new requests from now on; returns the parked committers, to be told to stop
    /// (queued requests are still committed by the busy ones).
    mutating func shutdown() -> [Committer] {
        self.isShuttingDown = true
        defer { self.parked.removeAll() }
        return self.parked
    }
}
