import HeraldPostgres
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// The group-commit publisher: concurrent publishes share one transaction.
///
/// Requests queue up while a transaction is in flight; a committer takes all of them (up
/// to `maximumItemsPerTransaction` items) and writes them with one call of
/// `herald.publish`: one round trip, one COMMIT, one `pg_notify` per topic. Every request
/// is answered only after that COMMIT. Input is validated before it gets here, so one
/// request cannot fail another's batch; should a batch fail for a reason that is not the
/// database being unavailable, its requests are retried one by one, so that only the
/// request at fault gets the error.
///
/// Run it as a service: `run()` commits until graceful shutdown, then refuses new
/// requests and commits those already queued before it returns.
public final class Publisher: Service, Sendable {
    /// How the publisher batches.
    public struct Configuration: Sendable {
        /// The most items one transaction carries (a larger request goes alone).
        public var maximumItemsPerTransaction: Int
        /// How many transactions may be in flight at once. PostgreSQL serializes the
        /// commits of transactions that NOTIFY, so more than two rarely helps.
        public var committers: Int

        /// Creates a configuration.
        public init(maximumItemsPerTransaction: Int = 4096, committers: Int = 2) {
            self.maximumItemsPerTransaction = maximumItemsPerTransaction
            self.committers = committers
        }
    }

    struct Pending: Sendable {
        var items: [PublishItem]
        var continuation: CheckedContinuation<[PublishResult], any Error>
    }

    typealias Committer = CheckedContinuation<Bool, Never>

    let pool: PostgresPool
    let configuration: Configuration
    let logger: Logger
    private let state = Mutex(GroupCommitStateMachine<Pending, Committer>())
    let transactionItems = Recorder(label: "herald_publish_transaction_items")
    let publishedCounter = Counter(label: "herald_published_notifications_total")

    /// Creates a publisher writing through `pool`.
    public init(pool: PostgresPool, configuration: Configuration = .init(), logger: Logger = Logger(label: "herald.publisher")) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
    }

    /// Publishes `items` atomically (all or none) and returns their results in order,
    /// once they are committed.
    public func publish(_ items: [PublishItem]) async throws -> [PublishResult] {
        precondition(!items.isEmpty, "nothing to publish")
        do {
            return try await withCheckedThrowingContinuation { continuation in
                let action = self.state.withLock { $0.submit(Pending(items: items, continuation: continuation), items: items.count) }
                switch action {
                case .wake(let committer):
                    committer.resume(returning: false)
                case .none:
                    break
                case .reject:
                    continuation.resume(throwing: HeraldError(.unavailable, "the server is shutting down; publish elsewhere or retry"))
                }
            }
        } catch let error as HeraldError {
            throw error
        } catch {
            throw HeraldError(.internalError, "\(error)")
        }
    }

    /// Runs the committers until graceful shutdown, then drains the queue.
    public func run() async {
        // Cancelled (another service of the group failed, e.g. the port was taken) or shut
        // down: either way the committers finish what is queued and stop.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<max(1, self.configuration.committers) {
                        group.addTask { await self.commitLoop() }
                    }
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
        let parked = self.state.withLock { $0.shutdown() }
        for committer in parked { committer.resume(returning: true) }
    }

    private func commitLoop() async {
        while true {
            let batch = self.state.withLock { $0.nextBatch(maximumItems: self.configuration.maximumItemsPerTransaction) }
            if !batch.isEmpty {
                await self.commit(batch)
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
}
