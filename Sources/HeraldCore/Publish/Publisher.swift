import HeraldPostgres
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

import struct Foundation.UUID

/// The group-commit publisher: concurrent publishes share one transaction.
///
/// Requests queue up while a transaction is in flight; a committer takes all of them (up
/// to `maximumItemsPerTransaction` items and `maximumBytesPerTransaction` bytes) and
/// writes them with one statement (`PublishBatch.statement`: `herald.publish_plain`, or
/// `herald.publish_items` when idempotency keys are involved): one round trip, one COMMIT,
/// one `pg_notify` per topic. Every request is answered only after that COMMIT. Input is
/// validated before it gets here, so one request cannot fail another's batch; should a
/// batch still fail for a reason that is not the database, its requests are retried one
/// by one, so that only the request at fault gets the error.
///
/// Nothing waits without a bound (see `GroupCommitStateMachine`): the queue has a size,
/// every request a deadline (`publishTimeout`), and a topic that another transaction holds
/// delays only its own publishes: a batch waits for a topic's lock at most the publish
/// pool's `lock_timeout` (250 ms); when that runs out the topics locked at that moment are
/// held, their requests set aside and probed alone, without waiting, with back-off until
/// their deadline, and the rest of the batch is retried at once. A connection lost while a
/// batch commits is not taken for a failure: what the batch reported of itself tells
/// whether it committed (`Publisher+Outcome`).
///
/// `submit` needs no task of its own: the answer comes through a callback. Run the
/// publisher as a service: `run()` commits until graceful shutdown, then refuses new
/// requests and commits those already queued before it returns.
public final class Publisher: Service, Sendable {
    /// How the publisher batches and bounds its work.
    public struct Configuration: Sendable {
        /// The most items one transaction carries (a larger request goes alone).
        public var maximumItemsPerTransaction: Int
        /// The most bytes of data one transaction carries (a larger request goes alone).
        public var maximumBytesPerTransaction: Int
        /// How many transactions may be in flight at once. PostgreSQL serializes the
        /// commits of transactions that NOTIFY, so more than two rarely helps.
        public var committers: Int
        /// How long a publish may wait for its commit before it is answered `unavailable`
        /// with nothing stored (`--publish-timeout`).
        public var publishTimeout: Duration
        /// The most items queued; a publish beyond is refused at once.
        public var maximumQueuedItems: Int
        /// The most bytes of data queued; a publish beyond is refused at once.
        public var maximumQueuedBytes: Int

        /// Creates a configuration.
        public init(
            maximumItemsPerTransaction: Int = 4096,
            maximumBytesPerTransaction: Int = 16 << 20,
            committers: Int = 2,
            publishTimeout: Duration = .seconds(5),
            maximumQueuedItems: Int = 65_536,
            maximumQueuedBytes: Int = 256 << 20
        ) {
            self.maximumItemsPerTransaction = maximumItemsPerTransaction
            self.maximumBytesPerTransaction = maximumBytesPerTransaction
            self.committers = committers
            self.publishTimeout = publishTimeout
            self.maximumQueuedItems = maximumQueuedItems
            self.maximumQueuedBytes = maximumQueuedBytes
        }
    }

    /// How a publish is answered: its results in order, or why not.
    public typealias Answer = @Sendable (Result<[PublishResult], HeraldError>) -> Void

    struct Pending: GroupCommitRequest, Sendable {
        var items: [PublishItem]
        var topics: [String]
        var byteCount: Int
        var deadline: ContinuousClock.Instant
        var answer: Answer
        var itemCount: Int { self.items.count }
    }

    typealias Committer = CheckedContinuation<Bool, Never>

    let pool: PostgresPool
    let configuration: Configuration
    let logger: Logger
    private let state: Mutex<GroupCommitStateMachine<Pending, Committer>>
    /// The batches being committed (`InFlightBatches`).
    let inFlight = Mutex(InFlightBatches<Pending>())
    /// How long past its deadline a request in a running batch waits before it is answered
    /// without the batch: time for the batch's own time-outs to answer more exactly.
    static let commitGrace = Duration.seconds(1)
    /// Topics whose rows are known to exist, so a batch need not create them first.
    let knownTopics = Mutex<Set<String>>([])
    let transactionItems = Recorder(label: "herald_publish_transaction_items")
    let publishedCounter = Counter(label: "herald_published_notifications_total")

    /// Gets every batch's newly committed notifications (not idempotent repeats), just
    /// before its requests are answered: the hub delivers them to this instance's
    /// subscribers without reading them back (`Hub.deliverCommitted`).
    let onCommit: (@Sendable ([Notification]) -> Void)?

    /// Creates a publisher writing through `pool` (which it should have to itself, so
    /// that reads cannot keep its commits waiting for a connection); `onCommit` gets each
    /// batch's new notifications once committed.
    public init(
        pool: PostgresPool,
        configuration: Configuration = .init(),
        logger: Logger = Logger(label: "herald.publisher"),
        onCommit: (@Sendable ([Notification]) -> Void)? = nil
    ) {
        self.pool = pool
        self.onCommit = onCommit
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(
            GroupCommitStateMachine(
                limits: .init(
                    maximumBatchItems: configuration.maximumItemsPerTransaction,
                    maximumBatchBytes: configuration.maximumBytesPerTransaction,
                    maximumQueuedItems: configuration.maximumQueuedItems,
                    maximumQueuedBytes: configuration.maximumQueuedBytes
                )
            )
        )
    }

    /// Publishes `items` atomically (all or none); `answer` gets their results in order
    /// once they are committed, or the reason they are not.
    public func submit(_ items: [PublishItem], answer: @escaping Answer) {
        precondition(!items.isEmpty, "nothing to publish")
        var topics: [String] = []
        for item in items where !topics.contains(item.topic) { topics.append(item.topic) }
        let now = ContinuousClock.now
        let answered = AnsweredOnce()
        let timed: Answer = { result in
            // A commit held past the deadline was answered then; its late result is dropped.
            guard answered.claim() else { return }
            HeraldMetrics.published(since: now)
            answer(result)
        }
        let pending = Pending(
            items: items, topics: topics, byteCount: items.reduce(0) { $0 + $1.data.utf8.count },
            deadline: now + self.configuration.publishTimeout, answer: timed
        )
        switch self.state.withLock({ $0.submit(pending, now: now) }) {
        case .wake(let committer):
            committer.resume(returning: false)
        case .none:
            break
        case .reject(.shuttingDown):
            answer(.failure(Self.shuttingDown))
        case .reject(.full):
            HeraldMetrics.refused(.publishQueue)
            answer(.failure(HeraldError(.unavailable, "too many publishes are waiting for the database; nothing was stored, retry shortly")))
        }
    }

    /// Publishes `items` atomically (all or none) and returns their results in order,
    /// once they are committed.
    public func publish(_ items: [PublishItem]) async throws -> [PublishResult] {
        try await withCheckedThrowingContinuation { continuation in
            self.submit(items) { continuation.resume(with: $0.mapError { $0 as any Error }) }
        }
    }

    /// Runs the committers until graceful shutdown, then drains the queue.
    public func run() async {
        // Cancelled (another service of the group failed, e.g. the port was taken) or shut
        // down: either way the committers finish what is queued and stop.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        await withTaskGroup(of: Void.self) { committers in
                            for _ in 0..<max(1, self.configuration.committers) {
                                committers.addTask { await self.commitLoop() }
                            }
                        }
                    }
                    group.addTask { await self.tickLoop() }
                    // The committers have stopped: so may the ticker.
                    await group.next()
                    group.cancelAll()
                }
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
    }

    /// Refuses new requests; queued ones are still committed.
    public func shutdown() {
        let (parked, refused) = self.state.withLock { $0.shutdown() }
        for committer in parked { committer.resume(returning: true) }
        for pending in refused {
            pending.answer(.failure(Self.shuttingDown))
        }
    }

    /// The answer to a publish whose commit PostgreSQL held past the deadline.
    static let commitNotConfirmed = HeraldError(
        .unavailable,
        "the database did not confirm the commit within --publish-timeout (is a synchronous standby away?), "
            + "and whether it was stored could not be found out: retry with the same Idempotency-Key"
    )
    /// The answer to a publish refused because the server is shutting down.
    static let shuttingDown = HeraldError(.unavailable, "the server is shutting down; nothing was stored, publish elsewhere or retry")

    /// The topics held by another transaction right now (their publishes wait aside).
    var heldTopics: [String] { self.state.withLock { $0.heldTopics } }

    private func commitLoop() async {
        while true {
            let next = self.state.withLock { $0.nextBatch(now: .now) }
            self.refuseExpired(next.expired)
            if !next.requests.isEmpty {
                await self.commit(next.requests, probing: next.probe != nil)
                if let probe = next.probe { self.state.withLock { $0.probeEnded(probe) } }
                continue
            }
            let stop = await withCheckedContinuation { (committer: Committer) in
                switch self.state.withLock({ $0.park(committer) }) {
                case .parked: break
                case .work: committer.resume(returning: false)
                case .stop: committer.resume(returning: true)
                }
            }
            if stop { return }
        }
    }

    /// Answers requests past their deadline, and wakes a committer for held topics whose
    /// retry is due, every few milliseconds.
    private func tickLoop() async {
        while !Task.isCancelled {
            let busy = self.state.withLock { $0.queuedRequests > 0 }
            try? await Task.sleep(for: .milliseconds(busy ? 20 : 200))
            let (expired, wake) = self.state.withLock { $0.tick(now: .now) }
            self.refuseExpired(expired)
            wake?.resume(returning: false)
            for pending in self.inFlight.withLock({ $0.overdue(now: .now, grace: Self.commitGrace) }) {
                HeraldMetrics.refused(.publishTimeout)
                pending.answer(.failure(Self.commitNotConfirmed))
            }
        }
    }

    private func refuseExpired(_ expired: [Pending]) {
        guard !expired.isEmpty else { return }
        let held = Set(self.heldTopics)
        for pending in expired {
            HeraldMetrics.refused(.publishTimeout)
            let topic = pending.topics.first { held.contains($0) }
            let reason = topic.map { "the topic \($0) stayed locked by another transaction" } ?? "the database did not commit it"
            pending.answer(.failure(HeraldError(.unavailable, "\(reason) within --publish-timeout; nothing was stored, retry shortly")))
        }
    }

    // MARK: - Used by the commit (Publisher+Commit)

    func deferred(_ requests: [Pending], heldTopics: Set<String>) {
        let (refused, wake) = self.state.withLock { $0.deferred(requests, heldTopics: heldTopics, now: .now) }
        for pending in refused {
            pending.answer(.failure(Self.shuttingDown))
        }
        wake?.resume(returning: false)
    }

    func retry(_ requests: [Pending]) {
        self.state.withLock { $0.retry(requests) }?.resume(returning: false)
    }

    func committed(topics: Set<String>) {
        self.state.withLock { $0.committed(topics: topics) }?.resume(returning: false)
    }
}
