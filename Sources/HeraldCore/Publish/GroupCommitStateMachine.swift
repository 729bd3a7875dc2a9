import DequeModule

/// What the group-commit state machine needs to know of a request.
protocol GroupCommitRequest {
    /// The notifications it holds.
    var itemCount: Int { get }
    /// The bytes of their data.
    var byteCount: Int { get }
    /// Its distinct topics.
    var topics: [String] { get }
    /// When it must be answered by (`--publish-timeout` after it came).
    var deadline: ContinuousClock.Instant { get }
}

/// The decisions of the group-commit publisher, as a value type without I/O.
///
/// Requests queue up; a committer takes everything queued (up to a number of items and
/// bytes) as one batch, so while one transaction is in flight the next batch fills. A
/// request is never split across batches, which keeps a batch request atomic. Idle
/// committers park and are woken by the next request.
///
/// Everything is bounded: the queue holds at most `Limits.maximumQueuedItems` items and
/// `maximumQueuedBytes` bytes (a request beyond is refused, not queued), and a request
/// not committed by its deadline is taken out, to be answered `unavailable`.
///
/// A topic another transaction holds (found when a batch's lock wait timed out) is held
/// here too: its requests wait aside, so they do not ride along in every batch and keep the
/// topics that are free waiting for that lock. When its retry is due, its requests go in a
/// batch of their own, a *probe*, which does not wait for locks: still held, they come back
/// deferred and wait again, backing off; committed, the topic is free again. However a
/// probe ends (a failure answered its requests, a lost connection), the caller says so with
/// `probeEnded`, so a topic is never left waiting for a probe that is over.
struct GroupCommitStateMachine<Request: GroupCommitRequest, Committer> {
    /// How much a batch and the queue may hold.
    struct Limits {
        var maximumBatchItems: Int
        var maximumBatchBytes: Int
        var maximumQueuedItems: Int
        var maximumQueuedBytes: Int
    }

    /// Why a request is refused.
    enum Rejection: Equatable {
        /// The publisher is shutting down.
        case shuttingDown
        /// The queue is full.
        case full
    }

    /// What `submit` asks the caller to do.
    enum SubmitAction {
        /// Resume this parked committer: there is work.
        case wake(Committer)
        /// Nothing: a busy committer will take the request (or it waits for its topic).
        case none
        /// Refuse the request.
        case reject(Rejection)
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

    /// What `nextBatch` hands out.
    struct Batch {
        /// The requests to commit together.
        var requests: [Request]
        /// The held topic these requests probe (commit them without waiting for locks), or
        /// nil for an ordinary batch.
        var probe: Probe?
        /// Requests past their deadline, taken out: to be refused.
        var expired: [Request]
    }

    /// A probe batch handed out: its held topic, and which probe of it.
    struct Probe: Equatable {
        var topic: String
        var id: Int
    }

    /// Whether a held topic's requests are being probed.
    enum ProbeState: Equatable {
        /// No probe is in flight: the next is due at the topic's `retryAt`.
        case idle
        /// The probe with this id is in flight.
        case inFlight(Int)
    }

    /// A topic another transaction holds: its requests wait until `retryAt`.
    struct HeldTopic {
        var attempts: Int
        var retryAt: ContinuousClock.Instant
        var waiting: Deque<Request> = []
        var probe: ProbeState = .idle

        var isProbing: Bool { self.probe != .idle }
    }

    let limits: Limits
    private var queue: Deque<Request> = []
    private var held: [String: HeldTopic] = [:]
    /// Items and bytes queued or waiting for a held topic (not those in a batch).
    private var queuedItems = 0
    private var queuedBytes = 0
    private var parked: [Committer] = []
    private var isShuttingDown = false
    private var lastProbeID = 0

    init(limits: Limits) {
        self.limits = limits
    }

    /// The requests waiting for a batch.
    var queuedRequests: Int { self.queue.count + self.held.values.reduce(0) { $0 + $1.waiting.count } }

    /// The topics held by another transaction right now.
    var heldTopics: [String] { Array(self.held.keys) }

    mutating func submit(_ request: Request, now: ContinuousClock.Instant) -> SubmitAction {
        guard !self.isShuttingDown else { return .reject(.shuttingDown) }
        let fits = self.queuedItems + request.itemCount <= self.limits.maximumQueuedItems
            && self.queuedBytes + request.byteCount <= self.limits.maximumQueuedBytes
        // An empty queue takes any request: one larger than the limits still goes alone.
        guard fits || self.queuedItems == 0 else { return .reject(.full) }
        self.queuedItems += request.itemCount
        self.queuedBytes += request.byteCount
        if let topic = self.heldTopic(of: request) {
            self.held[topic]!.waiting.append(request)
            return .none
        }
        self.queue.append(request)
        return self.wakeOne()
    }

    /// The next batch: a held topic's requests whose retry is due, alone (a probe); else
    /// whole queued requests, up to the batch limits (a larger request goes alone).
    /// Requests past their deadline are taken out; requests touching a held topic are put
    /// aside with it.
    mutating func nextBatch(now: ContinuousClock.Instant) -> Batch {
        var expired: [Request] = []
        if let (topic, requests) = self.dueProbe(now: now, expired: &expired) {
            return Batch(requests: requests, probe: topic, expired: expired)
        }
        var batch: [Request] = []
        var items = 0
        var bytes = 0
        while let first = self.queue.first {
            if first.deadline <= now {
                self.queue.removeFirst()
                self.unaccount(first)
                expired.append(first)
                continue
            }
            if let topic = self.heldTopic(of: first) {
                self.queue.removeFirst()
                self.held[topic]!.waiting.append(first)
                continue
            }
            guard batch.isEmpty
                || (items + first.itemCount <= self.limits.maximumBatchItems && bytes + first.byteCount <= self.limits.maximumBatchBytes)
            else { break }
            self.queue.removeFirst()
            self.unaccount(first)
            batch.append(first)
            items += first.itemCount
            bytes += first.byteCount
        }
        return Batch(requests: batch, probe: nil, expired: expired)
    }

    /// The requests of a held topic due for a retry (not already probing), taken out.
    private mutating func dueProbe(now: ContinuousClock.Instant, expired: inout [Request]) -> (Probe, [Request])? {
        guard let topic = self.held.first(where: { !$0.value.isProbing && !$0.value.waiting.isEmpty && $0.value.retryAt <= now })?.key
        else { return nil }
        var entry = self.held[topic]!
        var requests: [Request] = []
        var items = 0
        var bytes = 0
        var kept: Deque<Request> = []
        for request in entry.waiting {
            if request.deadline <= now {
                expired.append(request)
                self.unaccount(request)
            } else if requests.isEmpty
                || (items + request.itemCount <= self.limits.maximumBatchItems && bytes + request.byteCount <= self.limits.maximumBatchBytes)
            {
                requests.append(request)
                self.unaccount(request)
                items += request.itemCount
                bytes += request.byteCount
            } else {
                kept.append(request)
            }
        }
        entry.waiting = kept
        guard !requests.isEmpty else {
            self.held[topic] = entry
            return nil
        }
        self.lastProbeID += 1
        entry.probe = .inFlight(self.lastProbeID)
        self.held[topic] = entry
        return (Probe(topic: topic, id: self.lastProbeID), requests)
    }

    /// The probe batch `probe` is over, whatever became of it. Its topic, if it still
    /// waits for that probe (no `deferred`, `retry` or `committed` settled it: its requests
    /// were answered with a failure), is probed again when its retry is due.
    mutating func probeEnded(_ probe: Probe) {
        guard self.held[probe.topic]?.probe == .inFlight(probe.id) else { return }
        self.held[probe.topic]!.probe = .idle
    }

    /// A batch committed items of `topics`: they are free, and what waited for them goes
    /// first into the next batch. Returns a committer to wake, if any.
    mutating func committed(topics: some Sequence<String>) -> Committer? {
        guard !self.held.isEmpty else { return nil }
        var released = false
        for topic in topics {
            guard let entry = self.held.removeValue(forKey: topic) else { continue }
            for request in entry.waiting.reversed() { self.queue.prepend(request) }
            released = released || !entry.waiting.isEmpty
        }
        guard released, case .wake(let committer) = self.wakeOne() else { return nil }
        return committer
    }

    /// Another transaction holds `heldTopics`: they back off (10 ms, doubling up to
    /// 250 ms), and `requests` (of a batch that could not take them) wait for them; requests
    /// touching none of them go first into the next batch. While shutting down, the waiting
    /// ones are returned instead, to be refused.
    mutating func deferred(_ requests: [Request], heldTopics: Set<String>, now: ContinuousClock.Instant) -> (refused: [Request], wake: Committer?) {
        for topic in heldTopics {
            var entry = self.held[topic] ?? HeldTopic(attempts: 0, retryAt: now)
            entry.attempts += 1
            entry.retryAt = now + Self.backoff(attempts: entry.attempts)
            entry.probe = .idle
            self.held[topic] = entry
        }
        var immediate: [Request] = []
        var refused: [Request] = []
        for request in requests {
            if let topic = self.heldTopic(of: request) {
                if self.isShuttingDown {
                    refused.append(request)
                    continue
                }
                self.queuedItems += request.itemCount
                self.queuedBytes += request.byteCount
                self.held[topic]!.waiting.append(request)
            } else {
                immediate.append(request)
            }
        }
        return (refused, self.retry(immediate))
    }

    /// Requests whose batch failed for a passing reason (a lock or statement time-out):
    /// they go first into the next batch (or back with their held topic).
    mutating func retry(_ requests: [Request]) -> Committer? {
        for request in requests.reversed() {
            self.queuedItems += request.itemCount
            self.queuedBytes += request.byteCount
            if let topic = self.heldTopic(of: request) {
                self.held[topic]!.waiting.prepend(request)
                self.held[topic]!.probe = .idle
            } else {
                self.queue.prepend(request)
            }
        }
        guard !requests.isEmpty, case .wake(let committer) = self.wakeOne() else { return nil }
        return committer
    }

    /// Takes out the requests past their deadline (returned, to be refused), forgets held
    /// topics nobody waits for, and wakes a committer when a held topic's retry is due.
    /// The queue is in deadline order (one timeout for all, retries go back to the front),
    /// so only its front is looked at: this runs every few milliseconds under the lock
    /// every publish takes. A request out of order is taken out when a batch meets it.
    mutating func tick(now: ContinuousClock.Instant) -> (expired: [Request], wake: Committer?) {
        var expired: [Request] = []
        var due = false
        for topic in Array(self.held.keys) {
            guard var entry = self.held[topic] else { continue }
            entry.waiting.removeAll { request in
                guard request.deadline <= now else { return false }
                expired.append(request)
                return true
            }
            due = due || (!entry.isProbing && !entry.waiting.isEmpty && entry.retryAt <= now)
            // A topic nobody published to for a while is forgotten.
            if entry.waiting.isEmpty, !entry.isProbing, entry.retryAt + .seconds(10) < now {
                self.held[topic] = nil
            } else {
                self.held[topic] = entry
            }
        }
        while let first = self.queue.first, first.deadline <= now {
            expired.append(self.queue.removeFirst())
        }
        for request in expired { self.unaccount(request) }
        guard due, case .wake(let committer) = self.wakeOne() else { return (expired, nil) }
        return (expired, committer)
    }

    mutating func park(_ committer: Committer) -> ParkAction {
        if !self.queue.isEmpty { return .work }
        if self.isShuttingDown { return .stop }
        self.parked.append(committer)
        return .parked
    }

    /// Refuses new requests from now on; returns the parked committers, to be told to stop
    /// (queued requests are still committed by the busy ones), and the requests waiting
    /// for a held topic, to be refused.
    mutating func shutdown() -> (committers: [Committer], refused: [Request]) {
        self.isShuttingDown = true
        var refused: [Request] = []
        for entry in self.held.values { refused.append(contentsOf: entry.waiting) }
        for request in refused { self.unaccount(request) }
        self.held = [:]
        defer { self.parked.removeAll() }
        return (self.parked, refused)
    }

    /// The first topic of `request` that is held.
    private func heldTopic(of request: Request) -> String? {
        guard !self.held.isEmpty else { return nil }
        return request.topics.first { self.held[$0] != nil }
    }

    private mutating func wakeOne() -> SubmitAction {
        if let committer = self.parked.popLast() { return .wake(committer) }
        return .none
    }

    private mutating func unaccount(_ request: Request) {
        self.queuedItems -= request.itemCount
        self.queuedBytes -= request.byteCount
    }

    /// How long a held topic's requests wait before the next probe: 10 ms, doubling up to
    /// 250 ms.
    static func backoff(attempts: Int) -> Duration {
        .milliseconds(min(250, 10 << min(max(attempts - 1, 0), 5)))
    }
}
